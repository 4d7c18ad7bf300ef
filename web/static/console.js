// After an action the page reloads with its result (a flash or an error): move the focus
// there, so that a screen reader announces it and a keyboard user starts from it.
(function () {
  "use strict";
  var target = document.querySelector("[data-focus]");
  if (target) { target.focus(); }
})();
