/* The review queue (/review): one prediction at a time, most uncertain first. Keys 0-9 set the
   true digit, N marks "not a digit", S skips (the prediction comes back at the end of this
   session), U undoes the last step; the buttons do the same for mouse and touch. Plain
   JavaScript calling the review API (/api/review/queue, /api/predictions/<id>/review). */
(function () {
  "use strict";

  var QUEUE_URL = "/api/review/queue";
  var FETCH_SIZE = 10;
  var $ = function (id) { return document.getElementById(id); };

  var queue = [];      // fetched, not shown yet
  var skipped = [];    // skipped in this session, in the order they were skipped
  var current = null;  // the prediction on screen
  var steps = [];      // what U undoes: {kind: "label" | "skip", item, previous}
  var remaining = null;  // unlabelled predictions the filters match (the server's count, kept up to date)
  var exact = true;      // false: the server counted up to its cap, and there are more
  var busy = false;

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function percent(p) {
    return (100 * (p || 0)).toFixed(1) + "%";
  }

  function labelText(label) {
    return label === "none" ? "not a digit" : String(label);
  }

  function api(method, url, body) {
    var headers = { "Accept": "application/json", "X-CSRFToken": csrfToken() };
    var options = { method: method, headers: headers, credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (data) {
        if (response.ok && data) return data;
        var message = data && data.error ? data.error : "the server answered " + response.status;
        if (response.status === 403) message += " (log in again as staff)";
        throw new Error(message);
      });
    }, function () {
      throw new Error("the server cannot be reached; check the connection and try again");
    });
  }

  function localMidnight(value) {
    var parts = value.split("-").map(Number);
    return new Date(parts[0], parts[1] - 1, parts[2]);
  }

  /* The filters as the queue API's parameters; the dates are whole local days. */
  function filterParams() {
    var form = $("review-filters");
    var params = new URLSearchParams();
    if (form.elements.source.value) params.set("source", form.elements.source.value);
    if (form.elements.model_version.value) params.set("model_version", form.elements.model_version.value);
    if (form.elements.date_from.value) {
      params.set("created_after", localMidnight(form.elements.date_from.value).toISOString());
    }
    if (form.elements.date_to.value) {
      var end = localMidnight(form.elements.date_to.value);
      end.setDate(end.getDate() + 1);
      params.set("created_before", end.toISOString());
    }
    return params;
  }

  function showError(error) {
    var box = $("review-error");
    box.textContent = error && error.message ? error.message : String(error);
    box.hidden = false;
  }

  function setBusy(value) {
    busy = value;
    document.body.classList.toggle("is-busy", value);
    updateControls();
  }

  function updateControls() {
    document.querySelectorAll(".review-key").forEach(function (button) {
      var action = button.getAttribute("data-action");
      if (action === "undo") button.disabled = busy || !steps.length;
      else button.disabled = busy || !current;
    });
    var counter = $("review-remaining");
    if (remaining !== null) {
      counter.textContent = remaining + (exact ? "" : "+") + (remaining === 1 ? " prediction" : " predictions") +
        " left to review";
    }
    counter.setAttribute("data-remaining", remaining === null ? "" : String(remaining));
    $("review-skipped").textContent = skipped.length ? "(" + skipped.length + " skipped: they come back at the end)" : "";
  }

  function show(item) {
    current = item;
    $("review-item").hidden = !item;
    $("review-done").hidden = !!item || remaining === null;
    updateControls();
    if (!item) return;
    var section = $("review-item");
    section.setAttribute("data-id", String(item.id));
    $("review-id").textContent = item.id;
    $("review-source").textContent = item.source;
    $("review-version").textContent = item.model_version || "–";
    $("review-created").textContent = new Date(item.created).toLocaleString();
    $("review-answer").textContent = item.rejected ? "rejected" : String(item.prediction);
    section.classList.toggle("is-rejected", !!item.rejected);
    $("review-confidence").textContent = "Confidence " + percent(item.confidence);
    var reason = $("review-reason");
    reason.hidden = !item.rejected;
    reason.textContent = item.rejected ? item.reason || "" : "";
    $("review-no-digit").textContent = percent(item.no_digit_prob);
    $("review-uncertainty").textContent = item.uncertainty === null ? "–" : item.uncertainty.toFixed(3);

    var original = $("review-original");
    original.parentNode.hidden = !item.original_url;
    if (item.original_url) original.src = item.original_url;
    else original.removeAttribute("src");
    var input = $("review-input");
    input.parentNode.hidden = !item.input_url;
    if (item.input_url) input.src = item.input_url + "?size=140";
    else input.removeAttribute("src");

    var probs = item.probs || [];
    var top = 0;
    probs.forEach(function (p, digit) { if (p > probs[top]) top = digit; });
    $("review-chart").querySelectorAll(".prob-row").forEach(function (row) {
      var digit = Number(row.getAttribute("data-digit"));
      var p = probs[digit] || 0;
      row.querySelector(".prob-fill").style.width = (100 * p).toFixed(1) + "%";
      row.querySelector(".prob-value").textContent = percent(p);
      row.classList.toggle("top", probs.length > 0 && digit === top && p > 0);
    });
  }

  /* The next prediction: from what was fetched, else from the server (leaving out the skipped
     ones), else the skipped ones again, in the order they were skipped. */
  function next() {
    if (queue.length) {
      show(queue.shift());
      return Promise.resolve();
    }
    var params = filterParams();
    params.set("limit", String(FETCH_SIZE));
    if (skipped.length) params.set("exclude", skipped.map(function (item) { return item.id; }).join(","));
    return api("GET", QUEUE_URL + "?" + params.toString()).then(function (data) {
      remaining = data.remaining;
      exact = data.remaining_exact;
      queue = data.results;
      if (!queue.length && skipped.length) {
        queue = skipped;
        skipped = [];
      }
      show(queue.length ? queue.shift() : null);
    });
  }

  function run(work) {
    if (busy) return;
    $("review-error").hidden = true;
    setBusy(true);
    Promise.resolve().then(work).catch(showError).then(function () { setBusy(false); });
  }

  function reviewUrl(item) {
    return "/api/predictions/" + item.id + "/review";
  }

  function label(value) {
    if (!current) return;
    var item = current;
    run(function () {
      return api("POST", reviewUrl(item), { label: value }).then(function (answer) {
        steps.push({ kind: "label", item: item, previous: { label: item.true_label, source: item.label_source } });
        if (!item.label_source) remaining -= 1;
        $("review-last").textContent = "#" + item.id + " labelled " + labelText(answer.true_label) + ".";
        current = null;
        return next();
      });
    });
  }

  function skip() {
    if (!current) return;
    var item = current;
    run(function () {
      skipped.push(item);
      steps.push({ kind: "skip", item: item });
      $("review-last").textContent = "#" + item.id + " skipped.";
      current = null;
      return next();
    });
  }

  function undo() {
    if (!steps.length) return;
    run(function () {
      var step = steps.pop();
      var bringBack = function (item) {
        if (current && current.id !== item.id) queue.unshift(current);
        show(item);
      };
      if (step.kind === "skip") {
        var other = function (item) { return item.id !== step.item.id; };
        skipped = skipped.filter(other);
        queue = queue.filter(other);
        $("review-last").textContent = "#" + step.item.id + " is back (skip undone).";
        bringBack(step.item);
        return null;
      }
      // The label the prediction had before: none (the queue's own), or an earlier review.
      var request = step.previous.source === "review"
        ? api("POST", reviewUrl(step.item), { label: step.previous.label })
        : api("DELETE", reviewUrl(step.item));
      return request.then(function (answer) {
        if (!step.previous.source) remaining += 1;
        $("review-last").textContent = "#" + answer.id + " is back (label undone).";
        bringBack(answer);
      }, function (error) {
        steps.push(step);
        throw error;
      });
    });
  }

  function restart() {
    queue = [];
    skipped = [];
    steps = [];
    current = null;
    remaining = null;
    $("review-last").textContent = "";
    run(next);
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    var tag = event.target && event.target.tagName;
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") return;
    var key = event.key;
    if (/^[0-9]$/.test(key)) label(Number(key));
    else if (key === "n" || key === "N") label("none");
    else if (key === "s" || key === "S") skip();
    else if (key === "u" || key === "U") undo();
    else return;
    event.preventDefault();
  });

  document.querySelectorAll(".review-key").forEach(function (button) {
    button.addEventListener("click", function () {
      var action = button.getAttribute("data-action");
      var value = button.getAttribute("data-label");
      if (action === "skip") skip();
      else if (action === "undo") undo();
      else label(value === "none" ? "none" : Number(value));
      button.blur();  // keys go on working after a click
    });
  });

  $("review-filters").addEventListener("submit", function (event) {
    event.preventDefault();
    var query = new URLSearchParams(new FormData(event.target));
    Array.from(query.keys()).forEach(function (key) { if (!query.get(key)) query.delete(key); });
    window.history.replaceState(null, "", window.location.pathname + (query.toString() ? "?" + query : ""));
    restart();
  });

  restart();
})();
