// Public progress page: reload when the bag moves to another stage (checked once a minute).
(function () {
  "use strict";
  var box = document.getElementById("progress");
  if (!box) return;
  setInterval(async function () {
    try {
      var res = await fetch("/api/v1/decoction/" + encodeURIComponent(box.dataset.token),
                            { headers: { "Accept": "application/json" } });
      if (!res.ok) return;
      var data = await res.json();
      if (data.stage !== box.dataset.stage) window.location.reload();
    } catch (e) { /* offline: try again next minute */ }
  }, 60000);
})();
