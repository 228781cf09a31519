// 我的: log out here, or everywhere.
(function () {
  "use strict";
  function bind(id, path) {
    document.getElementById(id).addEventListener("click", async function () {
      try {
        await Palm.api("POST", path);
        window.location.assign("/h5/login");
      } catch (err) {
        document.getElementById("form-error").textContent = err.message || "操作失败";
      }
    });
  }
  bind("logout", "/api/v1/auth/logout");
  bind("logout-all", "/api/v1/auth/logout-all");
})();
