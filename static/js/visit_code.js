// Visit code: count down and fetch a fresh signed code 30 seconds before this one expires.
(function () {
  "use strict";
  var box = document.getElementById("visit-code");
  var img = document.getElementById("qr");
  var counter = document.getElementById("qr-countdown");
  var note = document.getElementById("qr-note");
  var patientId = box.dataset.patientId;
  var MARGIN = 30;
  var expiresAt = Date.now() + Number(box.dataset.expiresIn) * 1000;
  var busy = false;

  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      var code = await Palm.api("GET", "/api/v1/patients/" + patientId + "/visit-code");
      img.src = code.qr_png;
      box.dataset.token = code.token;
      expiresAt = Date.now() + code.expires_in * 1000;
      box.classList.remove("expired");
      note.textContent = "请向医护人员或自助机出示此码";
    } catch (err) {
      note.textContent = err.message || "刷新失败，请点击立即刷新";
    } finally {
      busy = false;
    }
  }
  function tick() {
    var left = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
    var untilRefresh = Math.max(0, left - MARGIN);
    counter.textContent = String(untilRefresh);
    if (left === 0) box.classList.add("expired");
    if (untilRefresh === 0) refresh();
  }
  document.getElementById("qr-refresh").addEventListener("click", refresh);
  setInterval(tick, 1000);
  tick();
})();
