/* The recognise page: drawing canvas, drag-and-drop upload, and the result display.
   Two modes: one digit (/api/predict, a square canvas) or a number (/api/read, a wide
   canvas; the answer's boxes are drawn over the image with their digits).
   Plain JavaScript, no build step. Without JavaScript the upload form posts to / and
   the server renders the same result block. */
(function () {
  "use strict";

  var API_URLS = { digit: "/api/predict", number: "/api/read" };
  var CANVAS_SIZES = { digit: [280, 280], number: [840, 280] };
  var $ = function (id) { return document.getElementById(id); };

  function mode() {
    var checked = document.querySelector("input[name=mode]:checked");
    return checked && checked.value === "number" ? "number" : "digit";
  }

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
    $("number-result").hidden = true;
    announce("Error: " + message);
  }

  function clearError() {
    errorBox.hidden = true;
    errorBox.textContent = "";
  }

  function percent(p) {
    return (100 * (p || 0)).toFixed(1) + "%";
  }

  /* A number: the text, and over the image read a box per digit with the digit on it.
     Boxes are in the image's pixels; as percentages they follow the image at any size. */
  function showNumber(data, imageSrc) {
    clearError();
    $("result").hidden = true;
    var rejected = !!data.rejected;
    var result = $("number-result");
    var digits = data.digits || [];
    result.classList.toggle("is-rejected", rejected);
    $("number-label").textContent = rejected ? "No number recognised" : "Recognised number";
    $("number-text").textContent = rejected ? "?" : data.text;
    var reason = $("number-reason");
    reason.hidden = !rejected;
    reason.textContent = rejected ? "Rejected: " + (data.reason || "no number stands out") : "";
    $("number-model-version").textContent = data.model_version || "–";

    var overlay = $("number-overlay");
    overlay.querySelectorAll(".number-box").forEach(function (box) { box.remove(); });
    var img = $("number-image");
    var drawBoxes = function () {
      var width = img.naturalWidth, height = img.naturalHeight;
      if (!width || !height) return;
      digits.forEach(function (d) {
        var box = document.createElement("div");
        box.className = "number-box" + (d.digit === null ? " is-unsure" : "");
        box.style.left = (100 * d.box[0] / width).toFixed(2) + "%";
        box.style.top = (100 * d.box[1] / height).toFixed(2) + "%";
        box.style.width = (100 * d.box[2] / width).toFixed(2) + "%";
        box.style.height = (100 * d.box[3] / height).toFixed(2) + "%";
        var label = document.createElement("span");
        label.className = "number-box-digit";
        label.textContent = d.digit === null ? "?" : String(d.digit);
        box.appendChild(label);
        overlay.appendChild(box);
      });
    };
    img.onload = drawBoxes;
    img.src = imageSrc || data.original_url || "";
    img.hidden = !img.src;
    if (img.complete && img.naturalWidth) drawBoxes();

    var list = $("number-digits");
    list.textContent = "";
    digits.forEach(function (d) {
      var item = document.createElement("li");
      item.textContent = (d.digit === null ? "?" : String(d.digit)) + " ";
      var share = document.createElement("span");
      share.className = "muted";
      share.textContent = percent(d.confidence);
      item.appendChild(share);
      list.appendChild(item);
    });
    result.hidden = false;
    announce(rejected
      ? "No number recognised. " + (data.reason || "")
      : "Recognised number " + data.text + ", " + digits.length + " digits");
  }

  function showResult(data) {
    clearError();
    $("number-result").hidden = true;
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

  function post(body, isJson, onStored, imageSrc) {
    if (busy) return;
    setBusy(true);
    var current = mode();
    var headers = { "X-CSRFToken": csrfToken(), "Accept": "application/json" };
    if (isJson) headers["Content-Type"] = "application/json";
    fetch(API_URLS[current], { method: "POST", body: body, headers: headers, credentials: "same-origin" })
      .then(function (response) {
        return response.json().catch(function () { return null; }).then(function (data) {
          if (response.ok && data) {
            if (current === "number") showNumber(data, imageSrc); else showResult(data);
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
    return [mode(), file.name, file.size, file.lastModified, file.type].join("\n");
  }

  function sendFile(file) {
    if (!file) {
      showError("Choose an image file first.");
      return;
    }
    var key = fileKey(file);
    if (recognised && recognised.key === key) {
      if (mode() === "number") showNumber(recognised.data, recognised.src); else showResult(recognised.data);
      announce("Already recognised " + file.name + ": " + statusBox.textContent);
      return;
    }
    var data = new FormData();
    data.append("file", file, file.name);
    data.append("source", "upload");
    var src = mode() === "number" && window.URL ? URL.createObjectURL(file) : null;
    // Only a stored answer counts: after an error or a lost connection the button tries again.
    post(data, false, function (answer) { recognised = { key: key, data: answer, src: src }; }, src);
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
      ctx.lineWidth = canvas.height / 12;
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
        showError(mode() === "number" ? "Draw a number on the canvas first." : "Draw a digit on the canvas first.");
        return;
      }
      var image = canvas.toDataURL("image/png");
      post(JSON.stringify({ image: image, source: "canvas" }), true, null, image);
    });

    /* The mode: a square canvas for one digit, a wide one for a number (resizing clears it). */
    var applyMode = function () {
      var current = mode();
      var size = CANVAS_SIZES[current];
      if (canvas.width !== size[0] || canvas.height !== size[1]) {
        canvas.width = size[0];
        canvas.height = size[1];
        clearCanvas();
      }
      $("input-grid").classList.toggle("is-number", current === "number");
      $("draw-heading").textContent = current === "number" ? "Draw a number" : "Draw a digit";
      canvas.setAttribute("aria-label", current === "number" ? "Drawing area for a number" : "Drawing area for one digit");
    };
    document.querySelectorAll("input[name=mode]").forEach(function (radio) {
      radio.addEventListener("change", function () {
        applyMode();
        clearError();
        $("result").hidden = true;
        $("number-result").hidden = true;
        announce(mode() === "number" ? "Number mode: draw or upload several digits." : "Digit mode: draw or upload one digit.");
      });
    });
    applyMode();
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
