// 医保 mobile payment: start the mixed order from the bill page (WeChat's 医保 payment sheet,
// or the sandbox's stand-in in development), then poll the result until the server decides.
(function () {
  "use strict";
  var bill = document.getElementById("bill");
  var button = document.getElementById("medins-pay-button");
  if (bill && button) {
    button.addEventListener("click", async function () {
      var error = document.getElementById("pay-error");
      error.textContent = "";
      button.disabled = true;
      try {
        // the 医保电子凭证 authorisation (pay_auth_no) comes from WeChat's authorisation page
        // configured at onboarding; the sandbox authorises at once
        var auth = button.getAttribute("data-pay-auth-no") ||
                   new URLSearchParams(window.location.search).get("pay_auth_no");
        if (!auth) { error.textContent = "请先完成医保电子凭证授权"; button.disabled = false; return; }
        var order = await Palm.api("POST", "/api/v1/bills/" + bill.getAttribute("data-bill") +
                                   "/medins-pay", { pay_auth_no: auth });
        var result = "/h5/medins/" + order.id;
        if (button.hasAttribute("data-sandbox")) {
          window.location.href = "/sandbox/medins/cashier/" + order.pay.mixTradeNo +
                                 "?return=" + encodeURIComponent(result);
          return;
        }
        if (window.WeixinJSBridge) {
          window.WeixinJSBridge.invoke("requestMedicalInsurancePay", order.pay, function () {
            window.location.href = result;   // the server decides, whatever the client says
          });
          return;
        }
        error.textContent = "请在微信中打开本页面完成医保支付";
      } catch (e) {
        error.textContent = e.message || "医保支付发起失败，请稍后再试";
      }
      button.disabled = false;
    });
  }

  var order = document.getElementById("medins-order");
  var open = ["uploading", "uploaded", "ordered", "reversing"];
  if (order && open.indexOf(order.getAttribute("data-status")) >= 0) {
    var id = order.getAttribute("data-order");
    var state = document.getElementById("medins-state");
    var tries = 0;
    var poll = async function () {
      tries += 1;
      try {
        var o = await Palm.api("GET", "/api/v1/medins-orders/" + id);
        order.setAttribute("data-status", o.status);
        if (o.status === "paid") { state.textContent = "支付成功"; return; }
        if (o.status === "reversed" || o.status === "failed") {
          state.textContent = "医保结算未完成，已撤销，自费部分原路退回"; return;
        }
      } catch (e) { /* network hiccup: keep polling */ }
      if (tries < 40) { window.setTimeout(poll, 1500); } else { state.textContent = "暂未收到支付结果，请稍后在缴费记录中查看"; }
    };
    window.setTimeout(poll, 500);
  }
})();
