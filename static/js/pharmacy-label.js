// Bag label: the QR code (progress link with a signed token + rx number) and a masked name.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var id = $("staff-app").dataset.id;
  $("print").addEventListener("click", function () { window.print(); });
  window.PalmStaff.requireLogin(async function () {
    try {
      var label = await window.PalmStaff.api("GET", "/api/v1/pharmacy/prescriptions/" + id + "/label");
      $("label-qr").src = label.qr_data_url;
      $("label-rx").textContent = "处方号 " + label.rx_no;
      $("label-name").textContent = label.patient_name;
      $("label-mode").textContent = label.mode_label + " · " + label.doses + " 帖 · " + label.delivery_label;
      var herbs = $("label-herbs");
      label.herbs.forEach(function (h) {
        var li = document.createElement("li");
        li.textContent = h.name + " " + h.grams + "g" + (h.handling ? "（" + h.handling + "）" : "");
        herbs.appendChild(li);
      });
      $("label").classList.remove("hidden");
    } catch (err) {
      $("label-error").textContent = err.message || "标签加载失败";
      $("label-error").classList.remove("hidden");
    }
  });
})();
