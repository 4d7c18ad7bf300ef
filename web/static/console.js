// Small helpers for every console page (no inline scripts: our CSP forbids them).
(function () {
  "use strict";
  // After an action the page reloads with its result (a flash or an error): move the
  // focus there, so that a screen reader announces it and a keyboard user starts from it.
  var target = document.querySelector("[data-focus]");
  if (target) { target.focus(); }
  // The desk's filters are folded on a phone (the cases come first) and open on a desktop.
  var filters = document.getElementById("filter-box");
  if (filters && window.matchMedia("(min-width: 801px)").matches) { filters.open = true; }
})();
