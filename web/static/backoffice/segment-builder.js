// The segment builder's live count: after each change, ask the server how many members match.
(function () {
  "use strict";
  var form = document.getElementById("segment-form");
  var shown = document.getElementById("segment-count");
  var problem = document.getElementById("segment-count-error");
  if (!form || !shown) return;
  var timer = null;
  var asked = 0;

  function query() {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, key) {
      if (key !== "csrf_token" && value !== "") params.append(key, value);
    });
    return params.toString();
  }

  function refresh() {
    var ticket = ++asked;
    shown.classList.add("text-body-secondary");
    fetch(form.dataset.countUrl + "?" + query(), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (body) {
        if (ticket !== asked) return; // an older answer arriving late
        shown.classList.remove("text-body-secondary");
        if (body.error) {
          problem.textContent = body.error;
          shown.textContent = "–";
        } else {
          problem.textContent = "";
          shown.textContent = body.count.toLocaleString("en");
        }
      })
      .catch(function () {
        if (ticket === asked) problem.textContent = "The count could not be updated; it will be on save.";
      });
  }

  function soon() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  }

  form.addEventListener("input", soon);
  form.addEventListener("change", soon);
})();
