// The kiosk (自助机) screen. Every API call is a signed device request: the kiosk's key id
// and secret live in this browser's localStorage (set once by staff on the setup screen)
// and each request is signed with WebCrypto HMAC-SHA256 over
//   METHOD \n PATH?QUERY \n TIMESTAMP \n NONCE \n hex(SHA-256(body))
// exactly as services/identity/devices.py verifies it. After a scan the server returns a
// short session token for ONE patient, kept in memory only and sent as X-Kiosk-Session.
(function () {
  "use strict";
  var STORAGE_KEY = "palm.kiosk.device";
  var root = document.getElementById("kiosk");
  if (!root) return;
  var idleSeconds = parseInt(root.getAttribute("data-idle-seconds"), 10) || 60;
  var printDialog = root.getAttribute("data-print-dialog") === "true";
  var session = null;          // {token, patient, reports}
  var idleTimer = null, tickTimer = null, idleLeft = idleSeconds;
  var enc = new TextEncoder();

  function $(id) { return document.getElementById(id); }
  function show(name) {
    ["setup", "start", "patient"].forEach(function (n) {
      $("screen-" + n).classList.toggle("hidden", n !== name);
    });
    if (name === "start") focusScanner();
  }
  function status(text, isError) {
    var el = $("kiosk-status");
    el.textContent = text || "";
    el.classList.toggle("error", !!isError);
  }
  function device() {
    try { return JSON.parse(localStorage.getItem(STORAGE_KEY) || "null"); } catch (e) { return null; }
  }
  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }
  function base64(buffer) {
    var s = "";
    new Uint8Array(buffer).forEach(function (b) { s += String.fromCharCode(b); });
    return btoa(s);
  }
  function nonce() {
    var bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return hex(bytes.buffer);
  }

  async function signedFetch(method, path, body) {
    var dev = device();
    if (!dev) { show("setup"); throw { code: "device_not_configured", message: "本机尚未配置设备密钥" }; }
    var text = body === undefined ? "" : JSON.stringify(body);
    var ts = String(Math.floor(Date.now() / 1000));
    var n = nonce();
    var bodyHash = hex(await crypto.subtle.digest("SHA-256", enc.encode(text)));
    var canonical = [method, path, ts, n, bodyHash].join("\n");
    var key = await crypto.subtle.importKey("raw", enc.encode(dev.secret),
                                            { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    var signature = base64(await crypto.subtle.sign("HMAC", key, enc.encode(canonical)));
    var headers = { "X-Palm-Key-Id": dev.keyId, "X-Palm-Timestamp": ts, "X-Palm-Nonce": n,
                    "X-Palm-Signature": signature, "Accept": "application/json, application/pdf" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (session) headers["X-Kiosk-Session"] = session.token;
    var res = await fetch(path, { method: method, headers: headers, body: body === undefined ? undefined : text,
                                  credentials: "omit", cache: "no-store" });
    if (!res.ok) {
      var data = null;
      try { data = await res.json(); } catch (e) { data = null; }
      var err = (data && data.error) || { code: "network_error", message: "网络异常，请稍后再试" };
      err.status = res.status;
      if (res.status === 401 && (err.code || "").indexOf("signature") === 0) {
        err.message = "设备认证失败，请联系工作人员（" + err.code + "）";
      }
      throw err;
    }
    return res;
  }

  // ---- idle logout ---------------------------------------------------------------------
  function resetIdle() {
    idleLeft = idleSeconds;
    renderIdle();
  }
  function renderIdle() {
    var note = $("idle-note");
    if (note) note.textContent = session ? "无操作 " + idleLeft + " 秒后自动退出。" : "";
  }
  function startIdle() {
    stopIdle();
    resetIdle();
    tickTimer = setInterval(function () {
      idleLeft -= 1;
      renderIdle();
      if (idleLeft <= 0) logout("长时间无操作，已自动退出");
    }, 1000);
  }
  function stopIdle() {
    if (tickTimer) clearInterval(tickTimer);
    if (idleTimer) clearTimeout(idleTimer);
    tickTimer = idleTimer = null;
  }
  ["click", "keydown", "touchstart", "pointerdown"].forEach(function (type) {
    document.addEventListener(type, function () { if (session) resetIdle(); }, true);
  });

  // ---- screens --------------------------------------------------------------------------
  function focusScanner() {
    var input = $("scan-input");
    if (input && document.activeElement !== $("card-input")) input.focus();
  }

  async function openSession(payload) {
    status("正在查询，请稍候…");
    try {
      var res = await signedFetch("POST", "/api/v1/kiosk/sessions", payload);
      session = await res.json();
      status("");
      renderPatient();
      show("patient");
      startIdle();
    } catch (err) {
      status(err.message || "查询失败，请重试", true);
      focusScanner();
    }
  }

  function renderPatient() {
    $("patient-name").textContent = session.patient.name;
    var list = $("report-list");
    list.textContent = "";
    $("no-reports").classList.toggle("hidden", session.reports.length > 0);
    session.reports.forEach(function (r) {
      var li = document.createElement("li");
      li.setAttribute("data-report-id", r.id);
      var info = document.createElement("div");
      var title = document.createElement("span");
      title.className = "title";
      title.textContent = r.title + (r.status === "amended" ? "（已更正）" : "");
      var sub = document.createElement("span");
      sub.className = "sub";
      var when = r.reported_at ? new Date(r.reported_at).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false }) : "";
      sub.textContent = r.kind_label + " · " + when + (r.abnormal_count ? " · 异常 " + r.abnormal_count + " 项" : "");
      info.appendChild(title);
      info.appendChild(sub);
      var button = document.createElement("button");
      button.type = "button";
      button.className = "kiosk-button print-button";
      button.textContent = "打印";
      button.addEventListener("click", function () { printReport(r, button); });
      li.appendChild(info);
      li.appendChild(button);
      list.appendChild(li);
    });
    renderReceipts();
  }

  function renderReceipts() {
    var list = $("receipt-list");
    list.textContent = "";
    var receipts = session.receipts || [];
    $("receipts-title").classList.toggle("hidden", receipts.length === 0);
    receipts.forEach(function (r) {
      var li = document.createElement("li");
      li.setAttribute("data-bill-id", r.bill_id);
      var info = document.createElement("div");
      var title = document.createElement("span");
      title.className = "title";
      title.textContent = r.title + " " + r.amount;
      var sub = document.createElement("span");
      sub.className = "sub";
      sub.textContent = "票据号 " + r.receipt_no;
      info.appendChild(title);
      info.appendChild(sub);
      var button = document.createElement("button");
      button.type = "button";
      button.className = "kiosk-button print-button";
      button.textContent = "打印票据";
      button.addEventListener("click", function () {
        printPdf("/api/v1/kiosk/receipts/print", { bill_id: r.bill_id }, "缴费票据", button);
      });
      li.appendChild(info);
      li.appendChild(button);
      list.appendChild(li);
    });
  }

  function showPdf(blob) {
    var frame = $("print-frame");
    var url = URL.createObjectURL(blob);
    frame.onload = function () {
      // Chromium started with --kiosk-printing prints this without a dialog
      if (printDialog) {
        try { frame.contentWindow.print(); } catch (e) { /* shown in the frame instead */ }
      }
      setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
    };
    frame.src = url;
  }

  async function printPdf(path, body, label, button) {
    button.disabled = true;
    status("正在打印「" + label + "」…");
    try {
      var res = await signedFetch("POST", path, body);
      showPdf(await res.blob());
      status("已打印「" + label + "」，请在出纸口取走");
    } catch (err) {
      status(err.message || "打印失败，请重试", true);
      if (err.code === "kiosk_session_invalid") backToStart();
    } finally {
      button.disabled = false;
    }
  }

  async function printReport(report, button) {
    button.disabled = true;
    status("正在打印「" + report.title + "」…");
    try {
      var res = await signedFetch("POST", "/api/v1/kiosk/print", { report_id: report.id });
      var count = res.headers.get("X-Print-Count");
      showPdf(await res.blob());
      status("已打印「" + report.title + "」，请在出纸口取走报告（第 " + count + " 次打印）");
      button.textContent = "再次打印";
    } catch (err) {
      status(err.message || "打印失败，请重试", true);
      if (err.code === "kiosk_session_invalid") backToStart();
    } finally {
      button.disabled = false;
    }
  }

  function backToStart() {
    session = null;
    stopIdle();
    $("report-list").textContent = "";
    $("receipt-list").textContent = "";
    $("receipts-title").classList.add("hidden");
    $("card-input").value = "";
    show("start");
  }

  async function logout(message) {
    var current = session;
    backToStart();
    status(message || "已退出，欢迎再次使用");
    if (current) {
      session = current;   // sign the logout with this session's token
      try { await signedFetch("DELETE", "/api/v1/kiosk/sessions/current"); } catch (e) { /* expires anyway */ }
      session = null;
    }
  }

  // ---- wiring ---------------------------------------------------------------------------
  $("setup-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var keyId = $("setup-key").value.trim(), secret = $("setup-secret").value.trim();
    if (!keyId || !secret) return;
    localStorage.setItem(STORAGE_KEY, JSON.stringify({ keyId: keyId, secret: secret }));
    $("setup-secret").value = "";
    status("设备设置已保存");
    show("start");
  });
  $("scan-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var input = $("scan-input");
    var code = input.value.trim();
    input.value = "";
    if (!code) return;
    // a card reader types the card number + Enter into the same box; visit codes contain a "."
    if (/^[0-9A-Za-z-]{4,32}$/.test(code)) openSession({ card_no: code });
    else openSession({ visit_code: code });
  });
  $("card-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var card = $("card-input").value.trim();
    if (card) openSession({ card_no: card });
  });
  $("logout").addEventListener("click", function () { logout(); });
  // a USB scanner "types" into whatever has focus: keep the scan box focused on the start screen
  document.addEventListener("click", function (event) {
    if (!session && event.target !== $("card-input") && !$("screen-start").classList.contains("hidden")) {
      focusScanner();
    }
  });

  if (!window.crypto || !crypto.subtle) {
    status("此浏览器环境不支持安全签名（需要 HTTPS），请联系工作人员", true);
  }
  show(device() ? "start" : "setup");
})();
