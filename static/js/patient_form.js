// Add / edit a family member: the API's field errors are shown under each field.
(function () {
  "use strict";
  var form = document.getElementById("patient-form");
  var patientId = form.dataset.patientId;
  var formError = document.getElementById("form-error");
  var docType = document.getElementById("document_type");

  function value(id) { var el = document.getElementById(id); return el ? el.value.trim() : ""; }
  function clearErrors() {
    formError.textContent = "";
    form.querySelectorAll("[data-error-for]").forEach(function (el) { el.textContent = ""; });
    form.querySelectorAll(".invalid").forEach(function (el) { el.classList.remove("invalid"); });
  }
  function showError(err) {
    var shown = false;
    (Array.isArray(err.details) ? err.details : []).forEach(function (d) {
      var slot = form.querySelector('[data-error-for="' + d.field + '"]');
      var input = document.getElementById(d.field);
      if (slot) { slot.textContent = d.message; shown = true; }
      if (input) input.classList.add("invalid");
      if (!slot && d.message) { formError.textContent = d.message; shown = true; }
    });
    if (!shown) formError.textContent = err.message || "保存失败，请稍后再试";
  }
  if (docType) {
    var toggle = function () {
      document.getElementById("extra-fields").classList.toggle("hidden", docType.value === "id_card");
    };
    docType.addEventListener("change", toggle);
    toggle();
  }
  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    clearErrors();
    var body = { relation: value("relation"), is_default: document.getElementById("is_default").checked };
    if (value("phone")) body.phone = value("phone");
    if (!patientId) {
      body.name = value("name");
      body.document_type = value("document_type");
      body.document_number = value("document_number");
      body.phone = value("phone");
      if (body.document_type !== "id_card") {
        if (value("sex")) body.sex = value("sex");
        if (value("birth_date")) body.birth_date = value("birth_date");
      }
    }
    var save = document.getElementById("save");
    save.disabled = true;
    try {
      if (patientId) await Palm.api("PATCH", "/api/v1/patients/" + patientId, body);
      else await Palm.api("POST", "/api/v1/patients", body);
      window.location.assign("/h5/patients");
    } catch (err) {
      save.disabled = false;
      showError(err);
    }
  });
  var del = document.getElementById("delete");
  if (del) {
    del.addEventListener("click", async function () {
      if (!window.confirm("确定删除此就诊人吗？")) return;
      try {
        await Palm.api("DELETE", "/api/v1/patients/" + patientId);
        window.location.assign("/h5/patients");
      } catch (err) { showError(err); }
    });
  }
})();
