// The ticket page: cancel, check in with the clinic's code, and the live queue (polled).
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var ticket = $("ticket");
  if (!ticket) return;
  var id = ticket.dataset.appointmentId;
  var error = $("action-error");
  var LIVE = ["booked", "checked_in", "called"];

  function fail(err) { error.textContent = err.message || "操作失败，请稍后再试"; error.classList.remove("hidden"); }

  function render(a) {
    ticket.dataset.status = a.status;
    $("status").textContent = a.status_name;
    $("check-in-card").classList.toggle("hidden", a.status !== "booked");
    $("queue-card").classList.toggle("hidden", LIVE.indexOf(a.status) < 0);
    var cancel = $("cancel");
    if (cancel) cancel.classList.toggle("hidden", !a.cancellable);
  }

  async function refreshQueue() {
    if (LIVE.indexOf(ticket.dataset.status) < 0) return;
    try {
      var q = await Palm.api("GET", "/api/v1/appointments/" + id + "/queue");
      $("queue-message").textContent = q.message;
      $("queue-calling").textContent = q.calling ? "正在叫号：" + q.calling : "";
      if (q.status !== ticket.dataset.status) {
        render(await Palm.api("GET", "/api/v1/appointments/" + id));
      }
    } catch (err) { /* keep the last figures; try again on the next round */ }
  }

  $("check-in").addEventListener("click", async function () {
    error.classList.add("hidden");
    try {
      render(await Palm.api("POST", "/api/v1/appointments/" + id + "/check-in",
                            { clinic_code: $("clinic-code").value.trim() }));
      refreshQueue();
    } catch (err) { fail(err); }
  });

  var cancel = $("cancel");
  if (cancel) {
    cancel.addEventListener("click", async function () {
      if (!window.confirm("确定取消本次预约吗？")) return;
      error.classList.add("hidden");
      try { render(await Palm.api("POST", "/api/v1/appointments/" + id + "/cancel")); }
      catch (err) { fail(err); }
    });
  }

  refreshQueue();
  window.setInterval(refreshQueue, 10000);
})();
