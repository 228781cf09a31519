// Admin outbox page: staff login (token kept for this tab only), message list, retry.
(function () {
  "use strict";
  var KEY = "palm_staff_token";
  var STATUS = { queued: "排队中", failed: "重试中", sent: "已发送", dead: "已放弃" };
  var OUTCOME = { sent: "成功", retry: "失败待重试", rejected: "被拒绝", fallback: "改用其他渠道" };
  var $ = function (id) { return document.getElementById(id); };

  async function call(method, path, body) {
    var headers = { "Accept": "application/json" };
    var token = sessionStorage.getItem(KEY);
    if (token) headers["Authorization"] = "Bearer " + token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    var res = await fetch(path, { method: method, headers: headers,
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

  function show(loggedIn) {
    $("login").classList.toggle("hidden", loggedIn);
    $("outbox").classList.toggle("hidden", !loggedIn);
  }

  function fail(box, err) {
    box.textContent = err.message || "操作失败";
    box.classList.remove("hidden");
  }

  function when(iso) {
    return iso ? new Date(iso).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false }) : "";
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function row(m) {
    var li = el("li", "message");
    li.dataset.id = m.id;
    li.dataset.status = m.status;
    var title = el("span", "title", m.template + " · " + (m.phone || m.openid || ""));
    title.appendChild(el("span", "badge", STATUS[m.status] || m.status));
    li.appendChild(title);
    var sub = "创建 " + when(m.created_at);
    if (m.sent_at) sub += " · 发送 " + when(m.sent_at) + " · " + m.channel;
    if (m.next_attempt_at && m.status !== "sent") sub += " · 下次尝试 " + when(m.next_attempt_at);
    if (m.deferred) sub += " · 延后：" + (m.deferred.reason === "quiet_hours" ? "免打扰时段" : "频率限制");
    if (m.last_error) sub += " · 错误 " + m.last_error.code + "：" + m.last_error.message;
    li.appendChild(el("span", "sub", sub));
    var attempts = el("ol", "sub attempts");
    m.attempts.forEach(function (a) {
      attempts.appendChild(el("li", "", when(a.at) + " " + a.channel + "/" + a.provider + " " +
        (OUTCOME[a.outcome] || a.outcome) + (a.code ? "（" + a.code + "）" : "")));
    });
    li.appendChild(attempts);
    if (m.status === "dead") {
      var button = el("button", "button retry", "重新发送");
      button.type = "button";
      button.addEventListener("click", async function () {
        button.disabled = true;
        try { await call("POST", "/api/v1/admin/messages/" + m.id + "/retry"); await load(); }
        catch (err) { fail($("outbox-error"), err); button.disabled = false; }
      });
      li.appendChild(button);
    }
    return li;
  }

  async function load() {
    var form = $("filter");
    var params = new URLSearchParams();
    if (form.status.value) params.set("status", form.status.value);
    if (form.recipient.value.trim()) params.set("recipient", form.recipient.value.trim());
    $("outbox-error").classList.add("hidden");
    try {
      var list = await call("GET", "/api/v1/admin/messages?" + params.toString());
      var box = $("messages");
      box.replaceChildren.apply(box, list.map(row));
      $("count").textContent = "共 " + list.length + " 条";
    } catch (err) {
      if (err.status === 401) { sessionStorage.removeItem(KEY); show(false); return; }
      fail($("outbox-error"), err);
    }
  }

  $("login-form").addEventListener("submit", async function (event) {
    event.preventDefault();
    var form = event.target;
    try {
      var data = await call("POST", "/api/v1/staff/login",
                            { username: form.username.value, password: form.password.value });
      sessionStorage.setItem(KEY, data.token);
      $("login-error").classList.add("hidden");
      show(true);
      await load();
    } catch (err) { fail($("login-error"), err); }
  });
  $("filter").addEventListener("submit", function (event) { event.preventDefault(); load(); });

  show(!!sessionStorage.getItem(KEY));
  if (sessionStorage.getItem(KEY)) load();
})();
