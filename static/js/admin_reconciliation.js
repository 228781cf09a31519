// Finance reconciliation page: staff sign in (token kept for this tab only), reports from the API.
(function () {
  "use strict";
  var KEY = "palm_staff_token";
  function token() { return window.sessionStorage.getItem(KEY) || ""; }
  async function call(method, path, body) {
    var headers = { "Accept": "application/json", "Authorization": "Bearer " + token() };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    var res = await fetch(path, { method: method, headers: headers,
                                  body: body === undefined ? undefined : JSON.stringify(body) });
    var data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) { var err = (data && data.error) || { message: "网络异常" }; err.status = res.status; throw err; }
    return data;
  }
  function yuan(fen) { return fen === null || fen === undefined ? "—" : "¥" + (fen / 100).toFixed(2); }
  function el(tag, text, cls) { var e = document.createElement(tag); if (text) e.textContent = text; if (cls) e.className = cls; return e; }
  function lines(title, items) {
    var box = el("div");
    box.appendChild(el("h3", title + "（" + items.length + "）"));
    var ul = el("ul", "", "list");
    items.forEach(function (l) {
      ul.appendChild(el("li", (l.kind === "payment" ? "支付 " : "退款 ") + l.ref + "  本院 " + yuan(l.our_fen) + " / 渠道 " + yuan(l.channel_fen)));
    });
    box.appendChild(ul);
    return box;
  }
  async function load() {
    var list = document.getElementById("report-list");
    var reports = await call("GET", "/api/v1/admin/reconciliations");
    list.textContent = "";
    if (!reports.length) list.appendChild(el("p", "暂无对账报告", "muted"));
    reports.forEach(function (r) {
      var card = el("div", "", "card report");
      card.setAttribute("data-date", r.date);
      card.appendChild(el("h2", r.date + " · " + r.channel + " · " + (r.status === "done" ? "已完成" : r.status)));
      card.appendChild(el("p", "一致 " + r.matched + " 笔", "matched"));
      card.appendChild(lines("渠道缺失", r.missing_at_channel));
      card.appendChild(lines("本院缺失", r.missing_locally));
      card.appendChild(lines("金额不符", r.amount_mismatch));
      list.appendChild(card);
    });
  }
  async function showReports() {
    document.getElementById("staff-login").classList.add("hidden");
    document.getElementById("reports").classList.remove("hidden");
    try { await load(); } catch (e) {
      if (e.status === 401) { window.sessionStorage.removeItem(KEY); window.location.reload(); return; }
      document.getElementById("run-error").textContent = e.message;
    }
  }
  document.getElementById("login-form").addEventListener("submit", async function (ev) {
    ev.preventDefault();
    try {
      var res = await fetch("/api/v1/staff/login", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ username: document.getElementById("username").value, password: document.getElementById("password").value }) });
      var data = await res.json();
      if (!res.ok) throw data.error;
      window.sessionStorage.setItem(KEY, data.token);
      showReports();
    } catch (e) { document.getElementById("login-error").textContent = (e && e.message) || "登录失败"; }
  });
  document.getElementById("run-form").addEventListener("submit", async function (ev) {
    ev.preventDefault();
    try { await call("POST", "/api/v1/admin/reconciliations", { date: document.getElementById("run-date").value }); await load(); }
    catch (e) { document.getElementById("run-error").textContent = e.message; }
  });
  if (token()) showReports();
})();
