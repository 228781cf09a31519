// Login page: request a code (60-second resend countdown), then log in with phone + code.
(function () {
  "use strict";
  var form = document.getElementById("login-form");
  var sendBtn = document.getElementById("send-code");
  var phone = document.getElementById("phone");
  var code = document.getElementById("code");
  var formError = document.getElementById("form-error");
  var timer = null;

  function clearErrors() {
    formError.textContent = "";
    form.querySelectorAll("[data-error-for]").forEach(function (el) { el.textContent = ""; });
    form.querySelectorAll(".invalid").forEach(function (el) { el.classList.remove("invalid"); });
  }
  function showError(err) {
    var shown = false;
    (Array.isArray(err.details) ? err.details : []).forEach(function (d) {
      var slot = form.querySelector('[data-error-for="' + d.field + '"]');
      var input = document.getElementById(d.field);
      if (slot) { slot.textContent = d.message; shown = true; }
      if (input) input.classList.add("invalid");
    });
    if (!shown) formError.textContent = err.message || "出错了，请稍后再试";
  }
  function countdown(seconds) {
    var left = seconds;
    sendBtn.disabled = true;
    sendBtn.textContent = left + " 秒后重发";
    clearInterval(timer);
    timer = setInterval(function () {
      left -= 1;
      if (left <= 0) {
        clearInterval(timer);
        sendBtn.disabled = false;
        sendBtn.textContent = "重新获取";
      } else {
        sendBtn.textContent = left + " 秒后重发";
      }
    }, 1000);
  }
  sendBtn.addEventListener("click", async function () {
    clearErrors();
    if (!/^1[3-9]\d{9}$/.test(phone.value.trim())) {
      form.querySelector('[data-error-for="phone"]').textContent = "请输入正确的 11 位手机号";
      phone.classList.add("invalid");
      return;
    }
    var done = Palm.busy(sendBtn, "正在发送…");
    try {
      var res = await Palm.api("POST", "/api/v1/auth/sms-code", { phone: phone.value.trim() });
      done();
      document.getElementById("sent-hint").classList.remove("hidden");
      countdown(res.resend_in || 60);
      code.focus();
    } catch (err) {
      done();
      showError(err);
    }
  });
  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    clearErrors();
    var submit = document.getElementById("login-submit");
    var done = Palm.busy(submit, "正在登录…");
    try {
      await Palm.api("POST", "/api/v1/auth/login", { phone: phone.value.trim(), code: code.value.trim() });
      window.location.assign(form.dataset.next || "/h5/");
    } catch (err) {
      done();
      showError(err);
    }
  });
})();
