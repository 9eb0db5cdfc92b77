/* The recognise page: drawing canvas, drag-and-drop upload, and the result display.
   Plain JavaScript, no build step. Without JavaScript the upload form posts to / and
   the server renders the same result block. */
(function () {
  "use strict";

  var API_URL = "/api/predict";
  var $ = function (id) { return document.getElementById(id); };

  var canvas = $("canvas");
  var form = $("upload-form");
  var fileInput = $("file-input");
  var dropZone = $("drop-zone");
  var errorBox = $("error");
  var statusBox = $("status");
  var busy = false;
  /* The file last recognised and stored, and its answer: one chosen file is one prediction, so
     "Recognise file" shows that answer again instead of storing the same upload twice. */
  var recognised = null;

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function announce(text) {
    if (statusBox) statusBox.textContent = text;
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
    $("result").hidden = true;
    announce("Error: " + message);
  }

  function clearError() {
    errorBox.hidden = true;
    errorBox.textContent = "";
  }

  function percent(p) {
    return (100 * (p || 0)).toFixed(1) + "%";
  }

  function showResult(data) {
    clearError();
    var rejected = !!data.rejected;
    var result = $("result");
    result.classList.toggle("is-rejected", rejected);
    $("result-label").textContent = rejected ? "No digit recognised" : "Recognised digit";
    $("result-digit").textContent = rejected ? "?" : String(data.prediction);
    $("result-confidence").textContent = "Confidence " + percent(data.confidence);
    var reason = $("result-reason");
    reason.hidden = !rejected;
    reason.textContent = rejected ? "Rejected: " + (data.reason || "no digit stands out") : "";
    $("result-model-version").textContent = data.model_version || "–";

    var img = $("model-input");
    if (data.input_url) {
      img.src = data.input_url + "?size=140";
      img.hidden = false;
    } else {
      img.removeAttribute("src");
      img.hidden = true;
    }

    var probs = data.probs || [];
    var rows = $("prob-chart").querySelectorAll(".prob-row");
    rows.forEach(function (row) {
      var digit = Number(row.getAttribute("data-digit"));
      var p = probs[digit] || 0;
      row.querySelector(".prob-fill").style.width = (100 * p).toFixed(1) + "%";
      row.querySelector(".prob-value").textContent = percent(p);
      row.classList.toggle("top", !rejected && digit === data.prediction);
    });
    result.hidden = false;
    announce(rejected
      ? "No digit recognised. " + (data.reason || "")
      : "Recognised digit " + data.prediction + ", confidence " + percent(data.confidence));
  }

  function setBusy(value) {
    busy = value;
    ["recognise", "upload-submit", "clear"].forEach(function (id) {
      var button = $(id);
      if (button) button.disabled = value;
    });
    document.body.classList.toggle("is-busy", value);
    if (value) announce("Recognising…");
  }

  function post(body, isJson, onStored) {
    if (busy) return;
    setBusy(true);
    var headers = { "X-CSRFToken": csrfToken(), "Accept": "application/json" };
    if (isJson) headers["Content-Type"] = "application/json";
    fetch(API_URL, { method: "POST", body: body, headers: headers, credentials: "same-origin" })
      .then(function (response) {
        return response.json().catch(function () { return null; }).then(function (data) {
          if (response.ok && data) {
            showResult(data);
            if (onStored) onStored(data);
          } else if (data && data.error) {
            showError(data.error);
          } else {
            showError("The server answered " + response.status + " " + response.statusText + ".");
          }
        });
      })
      .catch(function () {
        showError("The server cannot be reached. Check your connection and try again.");
      })
      .then(function () { setBusy(false); });
  }

  function fileKey(file) {
    return [file.name, file.size, file.lastModified, file.type].join("\n");
  }

  function sendFile(file) {
    if (!file) {
      showError("Choose an image file first.");
      return;
    }
    var key = fileKey(file);
    if (recognised && recognised.key === key) {
      showResult(recognised.data);
      announce("Already recognised " + file.name + ": " + statusBox.textContent);
      return;
    }
    var data = new FormData();
    data.append("file", file, file.name);
    data.append("source", "upload");
    // Only a stored answer counts: after an error or a lost connection the button tries again.
    post(data, false, function (answer) { recognised = { key: key, data: answer }; });
  }

  /* Upload: the form still works without JavaScript; with it, the API answers in place. */
  if (form && window.fetch && window.FormData) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      sendFile(fileInput.files[0]);
    });
    fileInput.addEventListener("change", function () {
      var file = fileInput.files[0];
      $("file-name").textContent = file ? "Selected: " + file.name : "";
      if (file) sendFile(file);
    });
    ["dragenter", "dragover"].forEach(function (type) {
      dropZone.addEventListener(type, function (event) {
        event.preventDefault();
        dropZone.classList.add("is-dragover");
      });
    });
    ["dragleave", "dragend", "drop"].forEach(function (type) {
      dropZone.addEventListener(type, function () { dropZone.classList.remove("is-dragover"); });
    });
    dropZone.addEventListener("drop", function (event) {
      event.preventDefault();
      var files = event.dataTransfer && event.dataTransfer.files;
      if (!files || !files.length) {
        showError("Drop an image file.");
        return;
      }
      $("file-name").textContent = "Dropped: " + files[0].name;
      // The form then holds the dropped file, so "Recognise file" means this file, not another.
      try { fileInput.files = files; } catch (error) { /* an older browser: the input stays as it was */ }
      sendFile(files[0]);
    });
  }

  /* Drawing: black round strokes about 1/12 of the canvas wide, on a transparent canvas. */
  if (canvas && canvas.getContext) {
    var ctx = canvas.getContext("2d");
    var drawing = false;
    var inked = false;
    var last = null;

    var resetPen = function () {
      ctx.lineWidth = canvas.width / 12;
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      ctx.strokeStyle = "#000";
      ctx.fillStyle = "#000";
    };
    resetPen();

    var point = function (event) {
      var rect = canvas.getBoundingClientRect();
      return {
        x: (event.clientX - rect.left) * (canvas.width / rect.width),
        y: (event.clientY - rect.top) * (canvas.height / rect.height),
      };
    };

    canvas.addEventListener("pointerdown", function (event) {
      if (event.button !== undefined && event.button > 0) return;
      event.preventDefault();
      drawing = true;
      inked = true;
      last = point(event);
      if (canvas.setPointerCapture) canvas.setPointerCapture(event.pointerId);
      ctx.beginPath();
      ctx.arc(last.x, last.y, ctx.lineWidth / 2, 0, 2 * Math.PI);
      ctx.fill();
    });
    canvas.addEventListener("pointermove", function (event) {
      if (!drawing) return;
      event.preventDefault();
      var events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
      if (!events.length) events = [event];
      ctx.beginPath();
      ctx.moveTo(last.x, last.y);
      events.forEach(function (e) {
        last = point(e);
        ctx.lineTo(last.x, last.y);
      });
      ctx.stroke();
    });
    var stop = function () { drawing = false; last = null; };
    canvas.addEventListener("pointerup", stop);
    canvas.addEventListener("pointercancel", stop);
    canvas.addEventListener("lostpointercapture", stop);

    var clearCanvas = function () {
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      inked = false;
      resetPen();
    };

    $("clear").addEventListener("click", function () {
      clearCanvas();
      clearError();
      announce("Drawing cleared.");
      canvas.focus();
    });
    $("recognise").addEventListener("click", function () {
      if (!inked) {
        showError("Draw a digit on the canvas first.");
        return;
      }
      post(JSON.stringify({ image: canvas.toDataURL("image/png"), source: "canvas" }), true);
    });
    /* Keyboard: Delete or Escape clears, Enter recognises when the canvas has focus. */
    canvas.tabIndex = 0;
    canvas.addEventListener("keydown", function (event) {
      if (event.key === "Delete" || event.key === "Backspace" || event.key === "Escape") {
        event.preventDefault();
        $("clear").click();
      } else if (event.key === "Enter") {
        event.preventDefault();
        $("recognise").click();
      }
    });
  }
})();
