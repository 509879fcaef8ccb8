// "Mes choix": narrows the professions of the patient's own matrix as one types (docs/portals.md).
// Progressive enhancement: without this script the filter is a GET form the server answers.
// The comparison is the server's (web/patient/matrix_view.py ``searchable``/``matches``): lower
// case, no accents, every typed word found in the profession's name or its kind's heading.
(function () {
  "use strict";
  var section = document.querySelector("[data-matrix-filter]");
  if (!section) {
    return;
  }
  var input = section.querySelector("#matrix-filter");
  var status = section.querySelector("#matrix-none");
  if (!input || !status) {
    return;
  }

  function words(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase().split(/\s+/)
      .filter(function (word) { return word.length > 0; });
  }

  function narrow() {
    var wanted = words(input.value);
    var anyShown = false;
    section.querySelectorAll(".matrix-group").forEach(function (group) {
      var shown = 0;
      group.querySelectorAll("details.matrix").forEach(function (block) {
        var haystack = block.getAttribute("data-search") || "";
        var match = wanted.every(function (word) { return haystack.indexOf(word) !== -1; });
        block.hidden = !match;
        shown += match ? 1 : 0;
      });
      group.hidden = shown === 0;
      anyShown = anyShown || shown > 0;
    });
    var message = anyShown ? "" : status.getAttribute("data-none");
    if (status.textContent !== message) {
      status.textContent = message;
    }
  }

  input.addEventListener("input", narrow);
})();
