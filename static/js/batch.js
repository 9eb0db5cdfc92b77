/* The batch job page: while the job is queued or running, poll /api/batches/<id> and
   update the progress bar and counters; reload once it has finished (confusion matrix). */
(function () {
  "use strict";

  var section = document.getElementById("batch-job");
  if (!section || !window.fetch) return;
  var url = section.getAttribute("data-poll-url");
  var ACTIVE = ["queued", "running"];
  var INTERVAL_MS = 1500;
  if (ACTIVE.indexOf(section.getAttribute("data-status")) < 0) return;

  function text(id, value) {
    var node = document.getElementById(id);
    if (node) node.textContent = value;
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (job) {
        if (!job) { window.setTimeout(poll, INTERVAL_MS * 2); return; }
        document.getElementById("batch-progress").value = job.progress;
        text("batch-counts", job.done + " / " + job.total);
        text("batch-failed", job.failed);
        var badge = document.getElementById("batch-status");
        badge.className = "badge " + job.status;
        text("batch-status", job.status.charAt(0).toUpperCase() + job.status.slice(1));
        if (ACTIVE.indexOf(job.status) >= 0) {
          window.setTimeout(poll, INTERVAL_MS);
        } else {
          window.location.reload();
        }
      })
      .catch(function () { window.setTimeout(poll, INTERVAL_MS * 2); });
  }

  window.setTimeout(poll, INTERVAL_MS);
})();
