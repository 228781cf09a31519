// Small helpers shared by the H5 pages (no build step, works in WeChat's browser).
(function () {
  "use strict";
  function cookie(name) {
    var m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : "";
  }
  // JSON API call with the session cookie and the XSRF header for writes.
  async function api(method, path, body) {
    var headers = { "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    var xsrf = cookie("_xsrf");
    if (xsrf && method !== "GET") headers["X-XSRFToken"] = xsrf;
    var res = await fetch(path, { method: method, headers: headers, credentials: "same-origin",
                                  body: body === undefined ? undefined : JSON.stringify(body) });
    var data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      var err = (data && data.error) || { code: "network_error", message: "网络异常，请稍后再试" };
      err.status = res.status;
      throw err;
    }
    return data;
  }
  window.Palm = { api: api, cookie: cookie };
})();
