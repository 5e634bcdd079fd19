// Runs a member import to the end: posts one step after the other and draws the progress.
// Without this script the page's "Continue import" button runs one step per click.
(function () {
  "use strict";
  const box = document.getElementById("import-progress");
  if (!box || box.dataset.done === "1") return;
  const button = document.getElementById("import-step");
  if (button) button.hidden = true;
  const bar = document.getElementById("import-bar");
  const numbers = new Intl.NumberFormat();

  function show(progress) {
    bar.value = progress.percent;
    bar.textContent = progress.percent + "%";
    for (const field of ["rows_read", "rows_imported", "rows_duplicate", "rows_failed"]) {
      box.querySelector('[data-field="' + field + '"]').textContent = numbers.format(progress[field]);
    }
    box.querySelector('[data-field="percent"]').textContent = progress.percent;
    box.querySelector('[data-field="error"]').textContent = progress.error || "";
    const state = progress.status === "done" ? "Finished" : progress.status === "failed" ? "Stopped" : "Importing…";
    box.querySelector('[data-field="state"]').textContent = state;
  }

  async function step() {
    const response = await fetch(box.dataset.stepUrl, {
      method: "POST",
      headers: { "Accept": "application/json", "X-CSRFToken": box.dataset.csrf },
      credentials: "same-origin",
    });
    let progress = null;
    try { progress = await response.json(); } catch (e) { progress = null; }
    if (progress) show(progress);
    if (!response.ok || !progress) {
      box.querySelector('[data-field="error"]').textContent =
        (progress && progress.error) || "The import stopped (" + response.status + "). Reload the page to resume.";
      if (button) button.hidden = false;
      return;
    }
    if (!progress.done) window.setTimeout(step, 50);
  }

  step();
})();
