-- wrk script: GET one path with a Bearer token taken round-robin from a pool of real sessions.
-- usage: wrk -s session_pool.lua URL -- TOKENS_FILE PATH
local tokens = {}
local path = "/"
local n = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then tokens[#tokens + 1] = line end
  end
  path = args[2]
  n = math.random(#tokens)
end

function request()
  n = n % #tokens + 1
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. tokens[n] })
end
