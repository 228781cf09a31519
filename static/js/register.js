// Booking: pick a slot and a family member, confirm → the ticket page; or join the waitlist.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var form = $("booking");
  if (!form) return;
  var error = $("booking-error"), info = $("booking-info");

  function show(box, text) { box.textContent = text; box.classList.remove("hidden"); }
  function patient() { var el = $("patient"); return el ? el.value : ""; }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    error.classList.add("hidden");
    var slot = form.querySelector("input[name=slot]:checked");
    if (!slot) { show(error, "请选择就诊时段"); return; }
    if (!patient()) { show(error, "请先添加就诊人"); return; }
    var done = Palm.busy($("confirm"), "正在预约…");
    try {
      var ticket = await Palm.api("POST", "/api/v1/appointments", { patient_id: patient(), slot_id: slot.value });
      window.location.href = "/h5/appointments/" + ticket.id;
    } catch (err) {
      show(error, err.message || "预约失败，请稍后再试");
      done();
    }
  });

  Array.prototype.forEach.call(document.querySelectorAll(".join-waitlist"), function (button) {
    button.addEventListener("click", async function () {
      error.classList.add("hidden");
      if (!patient()) { show(error, "请先添加就诊人"); return; }
      button.disabled = true;
      try {
        var entry = await Palm.api("POST", "/api/v1/waitlist", { patient_id: patient(), schedule_id: button.dataset.scheduleId });
        show(info, "已登记候补，当前排第 " + entry.position + " 位。有人退号时将自动为您预约并通知您。");
      } catch (err) {
        show(error, err.message || "登记候补失败");
        button.disabled = false;
      }
    });
  });
})();
