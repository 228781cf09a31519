// Triage knowledge base for admins: the active version, version history with rollback,
// quick synonym additions, the full JSON with server-side validation, and a try-out box.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var KB = "/api/v1/admin/triage/kb";
  var SOURCES = { file: "随代码发布", admin: "管理员修改" };
  var current = null;   // the active version as loaded: {version, kb, ...}

  function when(iso) {
    return iso ? new Date(iso).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false }) : "";
  }
  function el(tag, text, cls) {
    var n = document.createElement(tag);
    if (text !== undefined) n.textContent = text;
    if (cls) n.className = cls;
    return n;
  }
  function notice(message) {
    $("kb-error").classList.add("hidden");
    $("kb-ok").textContent = message;
    $("kb-ok").classList.remove("hidden");
  }
  function fail(err) {
    $("kb-ok").classList.add("hidden");
    $("kb-error").textContent = err.message || "操作失败";
    $("kb-error").classList.remove("hidden");
    var list = $("kb-problems");
    list.textContent = "";
    (err.details || []).forEach(function (d) {
      list.appendChild(el("li", (d.field ? d.field + "：" : "") + (d.message || JSON.stringify(d))));
    });
  }

  function showSynonyms() {
    var name = $("symptom").value;
    var entry = current && current.kb.symptoms[name];
    $("symptom-synonyms").textContent = entry ? "现有说法：" + entry.synonyms.join("、") : "";
  }

  async function load() {
    current = await PalmStaff.api("GET", KB);
    $("active-version").textContent = "第 " + current.version + " 版";
    $("active-meta").textContent = [SOURCES[current.source] || current.source, current.note,
      current.created_by, when(current.created_at)].filter(Boolean).join(" · ");
    $("kb-json").value = JSON.stringify(current.kb, null, 2);
    var select = $("symptom"), keep = select.value;
    select.textContent = "";
    Object.keys(current.kb.symptoms).forEach(function (name) {
      var o = el("option", name); o.value = name; select.appendChild(o);
    });
    if (keep && current.kb.symptoms[keep]) select.value = keep;
    showSynonyms();
    var rows = $("versions");
    rows.textContent = "";
    (await PalmStaff.api("GET", KB + "/versions")).forEach(function (v) {
      var tr = el("tr");
      tr.dataset.version = v.version;
      ["第 " + v.version + " 版", SOURCES[v.source] || v.source, v.note, v.created_by, when(v.created_at)]
        .forEach(function (t) { tr.appendChild(el("td", t || "")); });
      var td = el("td");
      if (v.active) {
        td.appendChild(el("strong", "生效中"));
      } else {
        var b = el("button", "启用此版本", "secondary small");
        b.type = "button";
        b.addEventListener("click", function () { activate(v.version); });
        td.appendChild(b);
      }
      tr.appendChild(td);
      rows.appendChild(tr);
    });
  }

  async function save(kb, note) {
    $("kb-problems").textContent = "";
    var out = await PalmStaff.api("PUT", KB, { base_version: current.version, note: note, kb: kb });
    await load();
    notice("已保存并启用第 " + out.version + " 版");
  }

  async function activate(version) {
    if (!window.confirm("启用第 " + version + " 版？导诊将立即按该版本工作。")) return;
    try {
      await PalmStaff.api("POST", KB + "/versions/" + version + "/activate",
                          { base_version: current.version });
      await load();
      notice("已启用第 " + version + " 版");
    } catch (err) { fail(err); }
  }

  $("symptom").addEventListener("change", showSynonyms);
  $("synonym-form").addEventListener("submit", async function (event) {
    event.preventDefault();
    var name = $("symptom").value, word = $("synonym").value.trim();
    if (!word) return;
    var kb = JSON.parse(JSON.stringify(current.kb));
    if (kb.symptoms[name].synonyms.indexOf(word) >= 0) { fail({ message: "“" + word + "”已在该症状的说法中" }); return; }
    kb.symptoms[name].synonyms.push(word);
    try { await save(kb, "“" + name + "”新增说法“" + word + "”"); $("synonym").value = ""; }
    catch (err) { fail(err); }
  });
  $("kb-save").addEventListener("click", async function () {
    var kb;
    try { kb = JSON.parse($("kb-json").value); }
    catch (e) { fail({ message: "JSON 格式有误：" + e.message }); return; }
    try { await save(kb, $("kb-note").value.trim()); $("kb-note").value = ""; }
    catch (err) { fail(err); }
  });
  $("try-form").addEventListener("submit", async function (event) {
    event.preventDefault();
    var box = $("try-result");
    try {
      var out = await PalmStaff.api("POST", "/api/v1/triage", { text: $("try-text").value });
      var names = out.departments.map(function (d) { return d.name; });
      box.textContent = (out.emergency ? "【危险信号】" : "") +
        (names.length ? "推荐：" + names.join("、") : "未能判断科室") + "（第 " + out.kb_version + " 版）";
    } catch (err) { box.textContent = err.message || "导诊失败"; }
  });

  PalmStaff.requireLogin(function () { load().catch(fail); });
})();
