// A patient's TCM prescriptions, grouped by family member; each links to its progress page.
(function () {
  "use strict";
  var box = document.getElementById("members");
  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }
  function fail(err) {
    var e = document.getElementById("list-error");
    e.textContent = err.status === 401 ? "请先登录后查看您的中药处方" : (err.message || "加载失败");
    e.classList.remove("hidden");
    box.textContent = "";
  }
  async function load() {
    var members = await window.Palm.api("GET", "/api/v1/patients");
    box.textContent = "";
    if (!members.length) { box.appendChild(el("p", "您还没有添加就诊人", "muted")); return; }
    for (var i = 0; i < members.length; i++) {
      var m = members[i];
      var card = el("section", undefined, "card");
      card.appendChild(el("h2", m.name));
      var list = el("ul", undefined, "list");
      var items = await window.Palm.api("GET", "/api/v1/prescriptions?patient_id=" + encodeURIComponent(m.id));
      if (!items.length) list.appendChild(el("li", "暂无中药处方", "muted"));
      items.forEach(function (rx) {
        var li = el("li");
        var a = el("a");
        a.href = rx.progress_url.replace(/^https?:\/\/[^/]+/, "");
        a.appendChild(el("span", "处方 " + rx.rx_no + " · " + rx.mode_label + " " + rx.doses + " 帖", "title"));
        a.appendChild(el("span", "当前：" + rx.stage_label, "sub"));
        li.appendChild(a);
        list.appendChild(li);
      });
      card.appendChild(list);
      box.appendChild(card);
    }
  }
  load().catch(fail);
})();
