// Decoction statistics: numbers from the API, the chart is the server's SVG shown as an image.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var staff = window.PalmStaff;

  async function load() {
    var days = $("days").value;
    try {
      var stats = await staff.api("GET", "/api/v1/pharmacy/stats?days=" + days);
      $("overdue-count").textContent = stats.overdue;
      var rows = $("stage-rows");
      rows.textContent = "";
      stats.stages.forEach(function (s) {
        var tr = document.createElement("tr");
        [s.label, s.samples, s.avg_minutes === null ? "–" : s.avg_minutes,
         s.p90_minutes === null ? "–" : s.p90_minutes].forEach(function (v) {
          var td = document.createElement("td");
          td.textContent = v;
          tr.appendChild(td);
        });
        rows.appendChild(tr);
      });
      var svg = await staff.text("/api/v1/pharmacy/stats/chart?days=" + days);
      $("chart").src = "data:image/svg+xml;base64," + btoa(unescape(encodeURIComponent(svg)));
      $("stats-error").classList.add("hidden");
    } catch (err) {
      $("stats-error").textContent = err.message || "统计加载失败";
      $("stats-error").classList.remove("hidden");
    }
  }

  $("days").addEventListener("change", load);
  staff.requireLogin(load);
})();
