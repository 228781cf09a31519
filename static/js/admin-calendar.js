// Hospital calendar for admins: the hospital's own open/closed days on top of China's
// statutory holidays and 调休, and the next three months as the booking system sees them.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var KINDS = { workday: "工作日", weekend: "周末", holiday: "法定节假日", adjusted_workday: "调休上班",
                hospital_open: "医院开诊", hospital_closed: "医院休息" };
  var WEEKDAYS = ["日", "一", "二", "三", "四", "五", "六"];

  function el(tag, text, cls) {
    var n = document.createElement(tag);
    if (text !== undefined) n.textContent = text;
    if (cls) n.className = cls;
    return n;
  }
  function notice(message) {
    $("cal-error").classList.add("hidden");
    $("cal-ok").textContent = message;
    $("cal-ok").classList.remove("hidden");
  }
  function fail(err) {
    $("cal-ok").classList.add("hidden");
    $("cal-error").textContent = err.message || "操作失败，请稍后重试";
    $("cal-error").classList.remove("hidden");
  }
  function weekday(iso) { return WEEKDAYS[new Date(iso + "T00:00:00Z").getUTCDay()]; }

  function showOverrides(list) {
    var body = $("overrides");
    body.textContent = "";
    $("no-overrides").classList.toggle("hidden", list.length > 0);
    list.forEach(function (o) {
      var row = el("tr");
      row.dataset.date = o.date;
      row.appendChild(el("td", o.date + "（周" + weekday(o.date) + "）"));
      row.appendChild(el("td", o.open ? "开诊" : "休息"));
      row.appendChild(el("td", o.note));
      row.appendChild(el("td", o.updated_by));
      var cell = el("td"), drop = el("button", "取消调整", "secondary small");
      drop.type = "button";
      drop.addEventListener("click", async function () {
        try {
          await PalmStaff.api("DELETE", "/api/v1/admin/calendar/overrides/" + o.date);
          notice(o.date + " 已恢复按国家安排");
          await load();
        } catch (err) { fail(err); }
      });
      cell.appendChild(drop);
      row.appendChild(cell);
      body.appendChild(row);
    });
  }

  function showDays(days) {
    var grid = $("days");
    grid.textContent = "";
    ["一", "二", "三", "四", "五", "六", "日"].forEach(function (w) { grid.appendChild(el("b", "周" + w, "weekday")); });
    if (days.length) {   // columns are Monday..Sunday: pad before the first day
      for (var pad = (new Date(days[0].date + "T00:00:00Z").getUTCDay() + 6) % 7; pad > 0; pad--) grid.appendChild(el("span"));
    }
    var guessed = {};
    days.forEach(function (d) {
      if (d.source === "fallback") guessed[d.date.slice(0, 4)] = true;
      var cls = "day" + (d.open ? " open" : " closed") +
        (d.source === "admin" || d.source === "config" ? " changed" : "");
      var b = el("button", d.date.slice(5) + " 周" + weekday(d.date), cls);
      b.type = "button";
      b.dataset.date = d.date;
      b.appendChild(el("span", KINDS[d.kind] + (d.name ? " · " + d.name : "") +
        (d.source === "fallback" ? "（未收录）" : ""), "kind"));
      b.addEventListener("click", function () {
        $("override-date").value = d.date;
        $(d.open ? "override-closed" : "override-open").checked = true;   // the change one would make
        $("override-note").focus();
      });
      grid.appendChild(b);
    });
    var years = Object.keys(guessed);
    $("cal-guessed").textContent = years.length ? years.join("、") + " 年的法定节假日和调休尚未收录，" +
      "暂按周一至周五开诊；国家公布后请升级日历数据，或在上方逐日调整。" : "";
    $("cal-guessed").classList.toggle("hidden", !years.length);
  }

  async function load() {
    var overrides = await PalmStaff.api("GET", "/api/v1/admin/calendar/overrides");
    var days = await PalmStaff.api("GET", "/api/v1/calendar?days=92");
    showOverrides(overrides);
    showDays(days);
  }

  $("override-form").addEventListener("submit", async function (event) {
    event.preventDefault();
    var day = $("override-date").value;
    var open = document.querySelector("input[name=override-open]:checked").value === "true";
    try {
      await PalmStaff.api("PUT", "/api/v1/admin/calendar/overrides/" + day,
                          { open: open, note: $("override-note").value.trim() });
      notice(day + " 已设为" + (open ? "开诊" : "休息"));
      $("override-note").value = "";
      await load();
    } catch (err) { fail(err); }
  });

  PalmStaff.requireLogin(function () { load().catch(fail); });
})();
