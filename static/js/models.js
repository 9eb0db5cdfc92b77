/* The models page: while training jobs are queued or running, poll their progress and
   update the table; reload once they are all finished so the new version shows. */
(function () {
  "use strict";

  var section = document.getElementById("training-jobs");
  if (!section || !window.fetch) return;
  var url = section.getAttribute("data-poll-url");
  var body = document.getElementById("job-rows");
  var INTERVAL_MS = 3000;
  var hadJobs = !section.hidden;

  function cell(text, className) {
    var td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text;
    return td;
  }

  function fixed(value) {
    return value === null || value === undefined ? "–" : Number(value).toFixed(4);
  }

  function render(jobs) {
    body.textContent = "";
    jobs.forEach(function (job) {
      var row = document.createElement("tr");
      row.setAttribute("data-job-id", job.id);
      row.appendChild(cell("#" + job.id));
      row.appendChild(cell(job.preset));
      var status = cell("");
      var badge = document.createElement("span");
      badge.className = "badge " + job.status;
      badge.textContent = job.status.charAt(0).toUpperCase() + job.status.slice(1);
      status.appendChild(badge);
      row.appendChild(status);
      var progressCell = cell("");
      // One bar for the phase under way (over all epochs while training); no value, an
      // indeterminate bar, when the phase does not count its steps.
      var bar = document.createElement("progress");
      if (job.fraction_done !== null && job.fraction_done !== undefined) {
        bar.max = 1;
        bar.value = job.fraction_done;
      }
      bar.setAttribute("aria-label", "Job " + job.id + ": " + job.progress_text);
      var label = document.createElement("span");
      label.className = "small job-progress";
      label.textContent = " " + job.progress_text;
      var epochs = document.createElement("span");
      epochs.className = "small muted";
      epochs.textContent = " (epoch " + job.epoch + "/" + (job.epochs || "?") + ")";
      progressCell.appendChild(bar);
      progressCell.appendChild(label);
      progressCell.appendChild(epochs);
      row.appendChild(progressCell);
      row.appendChild(cell(fixed(job.accuracy), "num"));
      row.appendChild(cell(fixed(job.val_accuracy), "num"));
      body.appendChild(row);
    });
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) return;
        if (data.jobs.length) {
          hadJobs = true;
          section.hidden = false;
          render(data.jobs);
        } else if (hadJobs) {
          window.location.reload();
          return;
        }
      })
      .catch(function () { /* try again at the next tick */ })
      .then(function () { window.setTimeout(poll, hadJobs ? INTERVAL_MS : INTERVAL_MS * 5); });
  }

  window.setTimeout(poll, INTERVAL_MS);
})();
