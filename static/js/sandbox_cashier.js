// Sandbox cashier: 支付 succeeds the order (the sandbox then sends its signed callback), 取消 goes back.
(function () {
  "use strict";
  var box = document.getElementById("cashier");
  if (!box) return;
  var prepay = box.getAttribute("data-prepay");
  var back = box.getAttribute("data-return");
  async function act(action) {
    var res = await fetch("/sandbox/wechatpay/cashier/" + encodeURIComponent(prepay) + "/" + action,
                          { method: "POST", credentials: "same-origin" });
    var data = await res.json();
    if (action === "pay" && !data.paid) {
      document.getElementById("cashier-error").textContent = "订单已过期或已关闭";
      return;
    }
    var sep = back.indexOf("?") >= 0 ? "&" : "?";
    window.location.href = back + sep + "result=" + (action === "pay" ? "paid" : "cancelled");
  }
  var pay = document.getElementById("cashier-pay");
  var cancel = document.getElementById("cashier-cancel");
  if (pay) pay.addEventListener("click", function () { pay.disabled = true; act("pay"); });
  if (cancel) cancel.addEventListener("click", function () { act("cancel"); });
})();
