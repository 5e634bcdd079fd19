// The campaign page's progress bar: widths from the counts, refreshed every few seconds while
// the campaign is sending (the server answers a small JSON document).
(function () {
  "use strict";
  var section = document.getElementById("campaign-progress");
  if (!section) return;
  var badge = document.getElementById("campaign-status");
  var LIVE = ["running", "paused", "scheduled"];

  function draw(counts) {
    var total = counts.total || 0;
    ["sent", "failed", "skipped"].forEach(function (part) {
      var bar = section.querySelector("[data-part=" + part + "]");
      var share = total ? (100 * (counts[part] || 0)) / total : 0;
      bar.parentElement.style.width = share + "%"; // CSSOM, allowed by the CSP
      bar.parentElement.setAttribute("aria-hidden", "true");
    });
    Object.keys(counts).forEach(function (key) {
      var cell = section.querySelector("[data-count=" + key + "]");
      if (cell) cell.textContent = (counts[key] || 0).toLocaleString("en");
    });
  }

  draw({
    sent: +section.dataset.sent, failed: +section.dataset.failed, skipped: +section.dataset.skipped,
    total: +section.dataset.total,
  });

  var status = section.dataset.status;
  if (LIVE.indexOf(status) < 0) return;

  function poll() {
    fetch(section.dataset.progressUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (body) {
        draw(body.counts);
        if (badge && body.status !== status) {
          badge.textContent = body.status_label;
          badge.className = "badge campaign-status status-" + body.status;
          status = body.status;
        }
        if (LIVE.indexOf(body.status) >= 0) setTimeout(poll, 3000);
        else window.location.reload(); // finished: the results and failures below are final
      })
      .catch(function () { setTimeout(poll, 10000); });
  }
  setTimeout(poll, 3000);
})();
