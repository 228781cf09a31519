// Staff pages (pharmacist station, labels, statistics): the staff token lives in
// sessionStorage (gone when the tab closes) and goes out as a Bearer header.
(function () {
  "use strict";
  var KEY = "palm_staff_token";
  var ME = "palm_staff_me";

  function token() { return sessionStorage.getItem(KEY) || ""; }

  function forget() {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(ME);
    showLogin();
  }

  // 退出 ends the session on the server too (a 12 h token must not outlive the shift);
  // the page forgets it even when the network is down.
  async function logout() {
    var held = token();
    forget();
    if (!held) return;
    try {
      await fetch("/api/v1/staff/logout", { method: "POST", credentials: "omit",
                                            headers: { "Authorization": "Bearer " + held } });
    } catch (e) { /* forgotten locally; the server session expires on its own */ }
  }

  async function request(method, path, body, asText) {
    var headers = { "Accept": asText ? "*/*" : "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token()) headers["Authorization"] = "Bearer " + token();
    var res;
    try {
      res = await fetch(path, { method: method, headers: headers, credentials: "omit",
                                body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw { code: "network_error", message: "网络异常，请检查网络后重试", status: 0 };
    }
    if (res.ok) return asText ? res.text() : res.json();
    var data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    var err = (data && data.error) || { code: "http_" + res.status, message: "请求失败（" + res.status + "）" };
    err.status = res.status;
    if (res.status === 401) forget();
    throw err;
  }

  function showLogin() {
    var login = document.getElementById("login");
    var app = document.getElementById("staff-app");
    if (login) login.classList.remove("hidden");
    if (app) app.classList.add("hidden");
    var user = document.getElementById("login-username");
    if (user) user.focus();
  }

  function me() {
    try { return JSON.parse(sessionStorage.getItem(ME) || "null"); } catch (e) { return null; }
  }

  // Show the page once a staff member is signed in; otherwise the login form.
  function requireLogin(onReady) {
    var form = document.getElementById("login-form");
    var error = document.getElementById("login-error");
    function ready(staff) {
      document.getElementById("login").classList.add("hidden");
      document.getElementById("staff-app").classList.remove("hidden");
      var who = document.getElementById("who");
      if (who) who.textContent = staff.name + "（" + staff.roles.join("、") + "）";
      onReady(staff);
    }
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      error.textContent = "";
      try {
        var out = await request("POST", "/api/v1/staff/login", {
          username: document.getElementById("login-username").value,
          password: document.getElementById("login-password").value });
        sessionStorage.setItem(KEY, out.token);
        sessionStorage.setItem(ME, JSON.stringify(out.staff));
        document.getElementById("login-password").value = "";
        ready(out.staff);
      } catch (err) {
        error.textContent = err.message || "登录失败";
      }
    });
    var out = document.getElementById("logout");
    if (out) out.addEventListener("click", logout);
    if (token() && me()) ready(me()); else showLogin();
  }

  window.PalmStaff = {
    api: function (method, path, body) { return request(method, path, body, false); },
    text: function (path) { return request("GET", path, undefined, true); },
    requireLogin: requireLogin, logout: logout, me: me,
  };
})();
