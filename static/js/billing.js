// Billing pages: pay a bill (sandbox cashier in development, WeixinJSBridge in WeChat),
// then poll the payment on the result page until the server has settled it.
(function () {
  "use strict";
  var bill = document.getElementById("bill");
  var payButton = document.getElementById("pay-button");
  if (bill && payButton) {
    payButton.addEventListener("click", async function () {
      var error = document.getElementById("pay-error");
      error.textContent = "";
      payButton.disabled = true;
      try {
        var order = await Palm.api("POST", "/api/v1/bills/" + bill.getAttribute("data-bill") + "/pay",
                                   { channel: bill.getAttribute("data-channel") });
        var result = "/h5/payments/" + order.id;
        if (order.cashier_url) { window.location.href = order.cashier_url; return; }
        var invoke = function () {
          window.WeixinJSBridge.invoke("getBrandWCPayRequest", order.jsapi, function () {
            window.location.href = result;   // the server decides, whatever the client says
          });
        };
        if (window.WeixinJSBridge) { invoke(); return; }
        if (/MicroMessenger/i.test(navigator.userAgent)) {
          document.addEventListener("WeixinJSBridgeReady", invoke, false);
          return;
        }
        error.textContent = "请在微信中打开本页面完成支付";
      } catch (e) {
        error.textContent = e.message || "支付发起失败，请稍后再试";
      }
      payButton.disabled = false;
    });
  }

  var payment = document.getElementById("payment");
  if (payment && payment.getAttribute("data-status") === "pending") {
    var id = payment.getAttribute("data-payment");
    var tries = 0;
    var state = document.getElementById("payment-state");
    var poll = async function () {
      tries += 1;
      try {
        var p = await Palm.api("GET", "/api/v1/payments/" + id);
        payment.setAttribute("data-status", p.status);
        if (p.status === "paid") { state.textContent = "支付成功"; return; }
        if (p.status === "closed" || p.status === "failed") { state.textContent = "支付未完成，可返回账单重新支付"; return; }
      } catch (e) { /* network hiccup: keep polling */ }
      if (tries < 40) { window.setTimeout(poll, 1500); } else { state.textContent = "暂未收到支付结果，请稍后在缴费记录中查看"; }
    };
    window.setTimeout(poll, 500);
  }
})();
