// Admin schedules page and the doctor's station: staff login (token kept for this tab),
// then the staff API. Which page it is follows from the elements present.
(function () {
  "use strict";
  var KEY = "palm_staff_token";
  var $ = function (id) { return document.getElementById(id); };
  var PERIODS = { morning: "上午", afternoon: "下午", evening: "晚间" };

  async function call(method, path, body) {
    var headers = { "Accept": "application/json" };
    var token = sessionStorage.getItem(KEY);
    if (token) headers["Authorization"] = "Bearer " + token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    var res = await fetch(path, { method: method, headers: headers,
                                  body: body === undefined ? undefined : JSON.stringify(body) });
    var data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (res.status === 401) { sessionStorage.removeItem(KEY); show(false); }
    if (!res.ok) {
      var err = (data && data.error) || { message: "网络异常，请稍后再试" };
      throw err;
    }
    return data;
  }

  function show(loggedIn) {
    $("login").classList.toggle("hidden", loggedIn);
    $("workspace").classList.toggle("hidden", !loggedIn);
  }
  function fail(box, err) { box.textContent = err.message || "操作失败"; box.classList.remove("hidden"); }
  function el(tag, text) { var n = document.createElement(tag); if (text !== undefined) n.textContent = text; return n; }

  $("login-form").addEventListener("submit", async function (event) {
    event.preventDefault();
    var form = event.target;
    try {
      var res = await call("POST", "/api/v1/staff/login",
                           { username: form.username.value, password: form.password.value });
      sessionStorage.setItem(KEY, res.token);
      $("login-error").classList.add("hidden");
      show(true);
    } catch (err) { fail($("login-error"), err); }
  });

  var station = $("workspace").dataset.page === "station";
  var error = $("work-error");

  // ---- admin: schedules per department and day ----
  async function loadSchedules() {
    error.classList.add("hidden");
    var rows = $("rows");
    rows.textContent = "";
    try {
      var list = await call("GET", "/api/v1/admin/schedules?department_id=" + $("department").value +
                            "&date=" + $("date").value);
      if (!list.length) { var tr = el("tr"); tr.appendChild(el("td", "当天无排班")); rows.appendChild(tr); }
      list.forEach(function (s) {
        var tr = el("tr");
        tr.dataset.scheduleId = s.id;
        [s.doctor_name + " " + s.doctor_title, PERIODS[s.period], s.type_name,
         String(s.slots.reduce(function (n, x) { return n + x.capacity; }, 0)), String(s.booked),
         String(s.waitlist), s.status === "open" ? "出诊" : "停诊"].forEach(function (t) { tr.appendChild(el("td", t)); });
        var td = el("td");
        if (s.status === "open") {
          var stop = el("button", "停诊");
          stop.className = "button danger";
          stop.addEventListener("click", async function () {
            if (!window.confirm("停诊将取消该时段全部预约并通知患者，确定吗？")) return;
            try { await call("POST", "/api/v1/admin/schedules/" + s.id + "/stop", { reason: "医生停诊" }); loadSchedules(); }
            catch (err) { fail(error, err); }
          });
          td.appendChild(stop);
        }
        tr.appendChild(td);
        rows.appendChild(tr);
      });
    } catch (err) { fail(error, err); }
  }

  // ---- station: today's queue of one schedule ----
  var shownCurrent = "none";   // the called appointment on screen: a doubled press changes nothing
  function renderQueue(q) {
    shownCurrent = q.current ? q.current.appointment_id : "none";
    $("queue").classList.remove("hidden");
    $("current").textContent = q.current ? q.current.ticket_no + " " + q.current.patient_name : "—";
    $("counts").textContent = "候诊 " + q.waiting.length + " 人 · 未报到 " + q.not_arrived + " 人 · 已完成 " + q.done + " 人";
    var list = $("waiting");
    list.textContent = "";
    q.waiting.forEach(function (e) {
      var li = el("li", e.ticket_no + " " + e.patient_name + (e.late ? "（迟到）" : ""));
      li.dataset.ticket = e.ticket_no;
      list.appendChild(li);
    });
  }

  async function loadToday() {
    error.classList.add("hidden");
    try {
      var list = await call("GET", "/api/v1/station/schedules?department_id=" + $("department").value);
      var select = $("schedule");
      select.textContent = "";
      list.forEach(function (s) {
        var o = el("option", s.doctor_name + " · " + PERIODS[s.period]);
        o.value = s.id;
        select.appendChild(o);
      });
      select.classList.toggle("hidden", !list.length);
      if (!list.length) { fail(error, { message: "今日该科室无出诊" }); return; }
      renderQueue(await call("GET", "/api/v1/station/schedules/" + select.value));
    } catch (err) { fail(error, err); }
  }

  $("filter").addEventListener("submit", function (event) {
    event.preventDefault();
    (station ? loadToday : loadSchedules)();
  });
  if (station) {
    $("schedule").addEventListener("change", async function () {
      try { renderQueue(await call("GET", "/api/v1/station/schedules/" + $("schedule").value)); }
      catch (err) { fail(error, err); }
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-action]"), function (button) {
      button.addEventListener("click", async function () {
        error.classList.add("hidden");
        button.disabled = true;
        try {
          var q = await call("POST", "/api/v1/station/schedules/" + $("schedule").value + "/" +
                             button.dataset.action + "?expect=" + shownCurrent);
          renderQueue(q);
          if (!q.applied) fail(error, { message: "队列已被其他终端更新，已刷新为最新状态，请确认后再操作" });
        } catch (err) { fail(error, err); }
        finally { button.disabled = false; }
      });
    });
  } else {
    $("date").value = new Date().toLocaleDateString("sv-SE", { timeZone: "Asia/Shanghai" });
  }
  show(Boolean(sessionStorage.getItem(KEY)));
})();
