// Reload the dashboard every minute while it is visible and nobody is typing in a form.
// The page works without this script; it only saves pressing F5.
(function () {
  "use strict";
  var seconds = parseInt(document.body.getAttribute("data-refresh-seconds"), 10);
  if (!seconds) {
    return;
  }
  window.setInterval(function () {
    var active = document.activeElement;
    var typing = active && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName);
    if (document.visibilityState === "visible" && !typing) {
      window.location.reload();
    }
  }, seconds * 1000);
})();
