// The rule builder's one piece of page script: htmx swaps the answers of refused requests too (422 with the problems
// in their slots, 409 with the "someone saved first" banner), because those answers are what the merchant must see.
// htmx's default leaves 4xx answers unswapped.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    window.htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "4..", swap: true, error: true },
      { code: "...", swap: false, error: true },
    ];
  });
})();
