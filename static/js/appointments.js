// My appointments: leave a waitlist.
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll(".leave-waitlist"), function (button) {
    button.addEventListener("click", async function () {
      button.disabled = true;
      try {
        await Palm.api("POST", "/api/v1/waitlist/" + button.dataset.waitlistId + "/cancel");
        window.location.reload();
      } catch (err) {
        button.disabled = false;
        window.alert(err.message || "操作失败");
      }
    });
  });
})();
