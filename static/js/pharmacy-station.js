// Pharmacist station: a USB scanner types the code and Enter. One scan shows the bag, an
// empty Enter (or the big button) moves it one step; batch mode collects bags for one stage.
(function () {
  "use strict";
  var api = window.PalmStaff.api;
  var root = document.getElementById("staff-app");
  var STAGES = JSON.parse(root.dataset.stages);
  var ACTIONS = JSON.parse(root.dataset.actions);
  var $ = function (id) { return document.getElementById(id); };
  var current = null;       // the bag on screen
  var batch = [];           // bags collected in batch mode
  var staff = null;

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  function beep(ok) {
    try {
      var ctx = new (window.AudioContext || window.webkitAudioContext)();
      var osc = ctx.createOscillator();
      osc.frequency.value = ok ? 880 : 220;
      osc.connect(ctx.destination);
      osc.start();
      osc.stop(ctx.currentTime + (ok ? 0.08 : 0.4));
    } catch (e) { /* no sound available */ }
  }

  function banner(kind, message) {
    var b = $("banner");
    b.textContent = message;
    b.className = "banner " + kind;
    beep(kind === "ok");
  }

  function fail(err) { banner("error", "✖ " + (err.message || "操作失败") + (err.code ? "（" + err.code + "）" : "")); }

  function station() { return $("station-name").value.trim() || null; }

  function fmt(iso) {
    var d = new Date(iso);
    return d.toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", month: "2-digit", day: "2-digit",
                                       hour: "2-digit", minute: "2-digit", hour12: false });
  }

  function show(bag) {
    current = bag;
    $("bag").classList.remove("hidden");
    $("bag-rx").textContent = bag.rx_no;
    $("bag-stage").textContent = bag.stage_label;
    $("bag-name").textContent = bag.patient_name;
    $("bag-mode").textContent = bag.mode_label;
    $("bag-doses").textContent = bag.doses;
    $("bag-delivery").textContent = bag.delivery_label + (bag.pickup_window ? "（" + bag.pickup_window + "）" : "") +
      (bag.address ? "（" + bag.address + "）" : "") + (bag.tracking_no ? " " + bag.courier + " " + bag.tracking_no : "");
    $("bag-wait").textContent = "本环节已等待 " + bag.waiting_minutes + " 分钟";
    var herbs = $("bag-herbs");
    herbs.textContent = "";
    bag.herbs.forEach(function (h) {
      var li = el("li", h.name + " " + h.grams + "g");
      if (h.handling) li.appendChild(el("span", h.handling, "badge warn"));
      herbs.appendChild(li);
    });
    var steps = $("bag-steps");
    steps.textContent = "";
    bag.steps.forEach(function (s) {
      steps.appendChild(el("li", s.label + " · " + fmt(s.at) + " · " + (s.by || "") + (s.station ? " · " + s.station : "")));
    });
    var next = $("advance");
    if (bag.next_stage) {
      next.disabled = false;
      next.textContent = "回车 → " + bag.next_action + "（" + STAGES[bag.next_stage] + "）";
    } else {
      next.disabled = true;
      next.textContent = "已完成";
    }
    $("ship").classList.toggle("hidden", bag.next_stage !== "shipped");
    $("label-link").href = "/pharmacy/prescriptions/" + bag.id + "/label";
    var canUndo = staff && (staff.roles.indexOf("pharmacy_supervisor") >= 0 || staff.roles.indexOf("admin") >= 0);
    $("undo").classList.toggle("hidden", !canUndo || bag.steps.length < 2);
  }

  async function scan(code) {
    var bag = await api("POST", "/api/v1/pharmacy/scan", { code: code, station: station() });
    if ($("batch-mode").checked) {
      addToBatch(bag);
    } else {
      show(bag);
      banner("info", "已扫描 " + bag.rx_no + "：当前「" + bag.stage_label + "」" +
             (bag.next_stage ? "，回车执行「" + bag.next_action + "」" : "，已完成"));
    }
  }

  async function advance() {
    if (!current) { banner("error", "✖ 请先扫描药袋"); return; }
    if (!current.next_stage) { banner("error", "✖ 该处方已完成，无需再操作"); return; }
    var body = { to_stage: current.next_stage, station: station() };
    if (current.next_stage === "shipped") {
      body.courier = $("courier").value.trim();
      body.tracking_no = $("tracking").value.trim();
      if (!body.courier || !body.tracking_no) { banner("error", "✖ 发货须填写快递公司和运单号"); $("tracking").focus(); return; }
    }
    var bag = await api("POST", "/api/v1/pharmacy/prescriptions/" + current.id + "/advance", body);
    show(bag);
    $("tracking").value = "";
    banner("ok", "✔ " + bag.rx_no + " 已进入「" + bag.stage_label + "」");
    loadQueues();
  }

  function addToBatch(bag) {
    var target = $("batch-stage").value;
    if (batch.some(function (b) { return b.id === bag.id; })) { banner("error", "✖ " + bag.rx_no + " 已在批量列表中"); return; }
    if (bag.next_stage !== target) {
      banner("error", "✖ " + bag.rx_no + " 当前「" + bag.stage_label + "」，下一步不是「" + STAGES[target] + "」，未加入");
      return;
    }
    batch.push(bag);
    renderBatch();
    banner("ok", "✔ 已加入批量：" + bag.rx_no);
  }

  function renderBatch() {
    var list = $("batch-list");
    list.textContent = "";
    batch.forEach(function (b) {
      var li = el("li");
      li.appendChild(el("span", b.rx_no + " · " + b.patient_name + " · " + b.stage_label, "title"));
      if (b.result) li.appendChild(el("span", b.result, b.ok ? "badge ok" : "badge danger"));
      list.appendChild(li);
    });
    $("batch-count").textContent = batch.length;
    $("batch-target").textContent = ACTIONS[$("batch-stage").value];
  }

  async function submitBatch() {
    var pending = batch.filter(function (b) { return !b.ok; });
    if (!pending.length) { banner("error", "✖ 批量列表为空"); return; }
    var out = await api("POST", "/api/v1/pharmacy/batch-advance",
                        { to_stage: $("batch-stage").value, station: station(), ids: pending.map(function (b) { return b.id; }) });
    out.items.forEach(function (item) {
      var bag = batch.find(function (b) { return b.id === item.id; });
      bag.ok = item.ok;
      bag.result = item.ok ? "✔ " + STAGES[item.stage] : "✖ " + item.message;
    });
    renderBatch();
    banner(out.failed ? "error" : "ok", (out.failed ? "✖ " : "✔ ") + "成功 " + out.succeeded + " 袋，失败 " + out.failed + " 袋");
    batch = batch.filter(function (b) { return !b.ok; });
    loadQueues();
  }

  async function undo() {
    var reason = window.prompt("撤销「" + current.stage_label + "」的原因（将记入审计）：", "");
    if (!reason || reason.trim().length < 2) { banner("error", "✖ 撤销须填写原因（至少 2 个字）"); return; }
    var bag = await api("POST", "/api/v1/pharmacy/prescriptions/" + current.id + "/undo",
                        { reason: reason.trim(), station: station() });
    show(bag);
    banner("ok", "✔ 已撤销，" + bag.rx_no + " 回到「" + bag.stage_label + "」");
  }

  async function loadQueues() {
    try {
      var queues = await api("GET", "/api/v1/pharmacy/queues");
      var box = $("queues");
      box.textContent = "";
      queues.forEach(function (q) {
        var div = el("div", undefined, "queue" + (q.items.some(function (i) { return i.overdue; }) ? " late" : ""));
        div.appendChild(el("span", q.label, "title"));
        div.appendChild(el("span", q.count + " 袋", "count"));
        if (q.items.length) div.appendChild(el("span", "最久 " + q.items[0].waiting_minutes + " 分钟", "sub"));
        box.appendChild(div);
      });
      var overdue = await api("GET", "/api/v1/pharmacy/overdue");
      var list = $("overdue");
      list.textContent = "";
      if (!overdue.length) list.appendChild(el("li", "暂无", "muted"));
      overdue.forEach(function (i) {
        list.appendChild(el("li", i.rx_no + " · " + i.patient_name + " · " + i.stage_label + " 已等 " +
                            i.waiting_minutes + " 分钟（限 " + i.limit_minutes + "）", "late"));
      });
    } catch (err) {
      // the queues are secondary; but a wrong role must be said at once, loudly
      if (err.status === 403) fail(err);
    }
  }

  function guard(fn) {
    return function () {
      return fn.apply(null, arguments).catch(fail).finally(function () { $("scan").focus(); });
    };
  }

  var doScan = guard(scan), doAdvance = guard(advance), doBatch = guard(submitBatch), doUndo = guard(undo);

  $("scan-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var code = $("scan").value.trim();
    $("scan").value = "";
    if (code) doScan(code); else if (!$("batch-mode").checked) doAdvance();
  });
  $("tracking").addEventListener("keydown", function (event) {
    if (event.key === "Enter") { event.preventDefault(); doAdvance(); }
  });
  $("advance").addEventListener("click", doAdvance);
  $("undo").addEventListener("click", doUndo);
  $("batch-submit").addEventListener("click", doBatch);
  $("batch-clear").addEventListener("click", function () { batch = []; renderBatch(); $("scan").focus(); });
  $("refresh-queues").addEventListener("click", loadQueues);
  $("batch-mode").addEventListener("change", function () {
    var on = $("batch-mode").checked;
    $("batch").classList.toggle("hidden", !on);
    $("batch-stage").classList.toggle("hidden", !on);
    $("bag").classList.toggle("hidden", on || !current);
    renderBatch();
    $("scan").focus();
  });
  $("batch-stage").addEventListener("change", function () { batch = []; renderBatch(); $("scan").focus(); });
  $("station-name").value = localStorage.getItem("palm_station") || "";
  $("station-name").addEventListener("change", function () { localStorage.setItem("palm_station", station() || ""); });

  window.PalmStaff.requireLogin(function (me) {
    staff = me;
    $("scan").focus();
    loadQueues();
    setInterval(loadQueues, 30000);
  });
})();
