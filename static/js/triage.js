// Smart triage: a small chat. Each message (and each tapped answer) re-asks the API with
// everything said so far; red flags raise the banner with the 120 link above everything.
(function () {
  "use strict";
  var form = document.getElementById("triage-form");
  var textBox = document.getElementById("triage-text");
  var chat = document.getElementById("chat");
  var errorBox = document.getElementById("triage-error");
  var submit = document.getElementById("triage-submit");
  var banner = document.getElementById("emergency");
  var partSymptoms = document.getElementById("part-symptoms");
  var pregnantRow = document.getElementById("pregnant-row");
  var state = { text: "", bodyParts: [], answers: {} };

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function say(who, text, extraClass) {
    var bubble = el("div", "bubble " + who + (extraClass ? " " + extraClass : ""), text);
    chat.appendChild(bubble);
    bubble.scrollIntoView({ block: "nearest" });
    return bubble;
  }
  function sex() {
    var picked = form.querySelector("input[name=sex]:checked");
    return picked && picked.value ? picked.value : null;
  }
  function request() {
    var body = { text: state.text, body_parts: state.bodyParts, answers: state.answers };
    var age = document.getElementById("triage-age").value.trim();
    if (age !== "") body.age = Number(age);
    var s = sex();
    if (s) body.sex = s;
    if (s === "female" && document.getElementById("triage-pregnant").checked) body.pregnant = true;
    return body;
  }
  function showError(message) {
    errorBox.textContent = message;
    errorBox.classList.remove("hidden");
  }

  function renderEmergency(result) {
    var list = document.getElementById("emergency-flags");
    list.textContent = "";
    result.red_flags.forEach(function (flag) { list.appendChild(el("li", "", flag.name)); });
    var advice = result.red_flags.length ? result.red_flags[0].advice : "";
    document.getElementById("emergency-advice").textContent = advice || result.advice;
    banner.classList.remove("hidden");
    window.scrollTo(0, 0);
  }

  function renderResult(result) {
    if (result.emergency) renderEmergency(result);
    var bubble = say("bot", undefined, result.emergency ? "danger" : "");
    if (result.symptoms.length || result.negated.length) {
      var understood = "识别到：" + (result.symptoms.join("、") || "—");
      if (result.negated.length) understood += "；已排除：" + result.negated.join("、");
      bubble.appendChild(el("p", "understood", understood));
    }
    if (result.departments.length) {
      bubble.appendChild(el("p", "", result.emergency ? "请立即到急诊就诊：" : "建议挂号科室："));
      var list = el("ul", "picks");
      result.departments.forEach(function (d) {
        var item = el("li", "pick");
        item.dataset.departmentId = d.department_id;
        item.appendChild(el("div", "name", d.name));
        item.appendChild(el("div", "reason", d.reason));
        if (d.department_id) {   // the enquiry desk (导诊台) is not bookable
          var link = el("a", "button", result.emergency && d === result.departments[0] ? "查看急诊科" : "预约挂号");
          link.href = "/h5/departments/" + encodeURIComponent(d.department_id);
          item.appendChild(link);
        }
        list.appendChild(item);
      });
      bubble.appendChild(list);
    } else if (!result.questions.length) {
      bubble.appendChild(el("p", "", "没能判断出合适的科室，请换个说法，或点选下面不舒服的部位。"));
    }
    result.questions.forEach(function (q) {
      var box = say("bot", undefined, "question");
      box.dataset.questionId = q.id;
      box.appendChild(el("p", "", q.text));
      var chips = el("div", "chips");
      q.options.forEach(function (o) {
        var chip = el("button", "chip answer", o.label);
        chip.type = "button";
        chip.dataset.value = o.value;
        chip.addEventListener("click", function () {
          state.answers[q.id] = o.value;
          chips.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
          say("user", o.label);
          ask();
        });
        chips.appendChild(chip);
      });
      box.appendChild(chips);
    });
  }

  async function ask() {
    errorBox.classList.add("hidden");
    submit.disabled = true;
    try {
      renderResult(await Palm.api("POST", "/api/v1/triage", request()));
    } catch (err) {
      var detail = err.details && err.details[0] && err.details[0].message;
      showError(detail || err.message || "网络异常，请稍后再试");
    } finally {
      submit.disabled = false;
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var said = textBox.value.trim();
    if (!said && !state.text && !state.bodyParts.length) {
      showError("请先描述哪里不舒服，或点选下面的部位");
      return;
    }
    if (said) {
      state.text = state.text ? state.text + "，" + said : said;
      say("user", said);
      textBox.value = "";
    }
    ask();
  });

  document.getElementById("triage-reset").addEventListener("click", function () {
    state = { text: "", bodyParts: [], answers: {} };
    chat.querySelectorAll(".bubble:not(:first-child)").forEach(function (b) { b.remove(); });
    banner.classList.add("hidden");
    partSymptoms.classList.add("hidden");
    document.querySelectorAll(".chip.part.selected").forEach(function (b) { b.classList.remove("selected"); });
    textBox.value = "";
  });

  form.querySelectorAll("input[name=sex]").forEach(function (radio) {
    radio.addEventListener("change", function () {
      pregnantRow.classList.toggle("hidden", sex() !== "female");
    });
  });

  document.querySelectorAll(".chip.part").forEach(function (button) {
    button.addEventListener("click", function () {
      var part = button.dataset.part;
      document.querySelectorAll(".chip.part.selected").forEach(function (b) { b.classList.remove("selected"); });
      button.classList.add("selected");
      state.bodyParts = [part];
      partSymptoms.textContent = "";
      button.dataset.symptoms.split(" ").filter(Boolean).forEach(function (symptom) {
        var chip = el("button", "chip", symptom);
        chip.type = "button";
        chip.addEventListener("click", function () {
          chip.classList.add("selected");
          textBox.value = textBox.value.trim() ? textBox.value.trim() + "，" + symptom : symptom;
        });
        partSymptoms.appendChild(chip);
      });
      partSymptoms.classList.remove("hidden");
    });
  });
})();
