// Small helpers shared by the H5 pages (no build step, works in WeChat's browser).
(function () {
  "use strict";
  // A patient on a weak mobile signal must read what happened in plain Chinese; the browser's
  // own texts ("Failed to fetch", "NetworkError when attempting…") never reach the page.
  var OFFLINE = { code: "network_offline", message: "网络已断开，请检查手机网络后再试" };
  var UNREACHABLE = { code: "network_error", message: "网络不稳定，没有连上医院服务器，请稍后再试" };
  var TIMEOUT = { code: "network_timeout", message: "医院服务器响应太慢，请稍后再试；如刚才在付款或挂号，请先查看结果再重试" };
  var SERVER = { code: "server_unavailable", message: "医院服务器暂时无法处理，请稍后再试" };
  var TIMEOUT_MS = 20000;

  function cookie(name) {
    var m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : "";
  }
  function failure(kind, status) {
    var err = { code: kind.code, message: kind.message, network: true };
    if (status) err.status = status;
    return err;
  }
  // JSON API call with the session cookie and the XSRF header for writes. Every rejection is
  // an object {code, message[, status, details]} whose message can be shown as is.
  async function api(method, path, body) {
    var headers = { "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    var xsrf = cookie("_xsrf");
    if (xsrf && method !== "GET") headers["X-XSRFToken"] = xsrf;
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, TIMEOUT_MS) : null;
    var res;
    try {
      res = await fetch(path, { method: method, headers: headers, credentials: "same-origin",
                                body: body === undefined ? undefined : JSON.stringify(body),
                                signal: controller ? controller.signal : undefined });
    } catch (e) {
      if (e && e.name === "AbortError") throw failure(TIMEOUT);
      throw failure(navigator.onLine === false ? OFFLINE : UNREACHABLE);
    } finally {
      if (timer) clearTimeout(timer);
    }
    var data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      var err = data && data.error;
      if (!err || !err.message) err = failure(res.status >= 500 ? SERVER : UNREACHABLE, res.status);
      err.status = res.status;
      throw err;
    }
    return data;
  }
  // Shows that a press was taken: the button says what is happening ("正在…"), is disabled
  // against a second press, and it and its form carry aria-busy for screen readers.
  // Returns the function that puts the button back.
  function busy(button, text) {
    var label = button.textContent, form = button.form;
    button.disabled = true;
    button.textContent = text;
    button.setAttribute("aria-busy", "true");
    if (form) form.setAttribute("aria-busy", "true");
    return function done() {
      button.disabled = false;
      button.textContent = label;
      button.removeAttribute("aria-busy");
      if (form) form.removeAttribute("aria-busy");
    };
  }
  window.Palm = { api: api, busy: busy, cookie: cookie };
})();
