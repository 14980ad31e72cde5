// Filters of the findings table: a row shows when it matches every chosen
// value; the timeline markers of hidden rows are dimmed.
(function () {
  "use strict";
  var selects = document.querySelectorAll("select[data-filter]");
  var rows = document.querySelectorAll("tr.finding");
  var shown = document.getElementById("shown");
  function apply() {
    var n = 0;
    rows.forEach(function (tr) {
      var ok = true;
      selects.forEach(function (s) {
        if (s.value && tr.getAttribute("data-" + s.getAttribute("data-filter")) !== s.value) { ok = false; }
      });
      tr.hidden = !ok;
      if (ok) { n++; }
      document.querySelectorAll('[data-finding="' + tr.id + '"]').forEach(function (m) {
        m.classList.toggle("dim", !ok);
      });
    });
    if (shown) { shown.textContent = n + " of " + rows.length + " shown"; }
  }
  selects.forEach(function (s) { s.addEventListener("change", apply); });
  apply();
})();
