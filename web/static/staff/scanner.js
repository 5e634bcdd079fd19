/* The till's script: camera scan, typeahead, live points preview, and changes sent with their
   idempotency key that wait in localStorage and retry while the network is down.
   Every form also works without this file (plain post, redirect, flash). */
(function () {
  "use strict";

  var QUEUE_KEY = "till-queue-v1";
  var FLASH_KEY = "till-flash";
  var RETRY_MS = 4000;
  var retryTimer = null;

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }

  function csrfToken() {
    var field = $('input[name="csrf_token"]');
    return field ? field.value : "";
  }

  function newKey() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID().replace(/-/g, ""); }
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // --- messages ---------------------------------------------------------------------------

  function say(kind, text, link) {
    var area = $("#till-alert");
    if (!area) { return; }
    var box = document.createElement("div");
    box.className = "alert alert-" + kind + " alert-dismissible";
    box.setAttribute("role", kind === "danger" ? "alert" : "status");
    box.textContent = text;
    if (link) {
      var a = document.createElement("a");
      a.href = link.href;
      a.textContent = " " + link.text;
      a.className = "ms-1";
      box.appendChild(a);
    }
    var close = document.createElement("button");
    close.type = "button";
    close.className = "btn-close";
    close.setAttribute("aria-label", "Close");
    close.addEventListener("click", function () { box.remove(); });
    box.appendChild(close);
    area.innerHTML = "";
    area.appendChild(box);
    box.scrollIntoView({ block: "nearest" });
  }

  function showCarriedMessage() {
    var text = sessionStorage.getItem(FLASH_KEY);
    if (text) {
      sessionStorage.removeItem(FLASH_KEY);
      say("success", text);
    }
  }

  // --- sending changes, and the offline queue ----------------------------------------------

  function loadQueue() {
    try { return JSON.parse(localStorage.getItem(QUEUE_KEY) || "[]"); } catch (e) { return []; }
  }

  function saveQueue(queue) {
    localStorage.setItem(QUEUE_KEY, JSON.stringify(queue));
    renderQueue(queue);
  }

  function renderQueue(queue) {
    var box = $("#till-pending");
    if (!box) { return; }
    var list = $("[data-pending-list]", box);
    list.innerHTML = "";
    queue.forEach(function (item) {
      var li = document.createElement("li");
      li.textContent = item.label + " (since " + new Date(item.at).toLocaleTimeString() + ")";
      li.setAttribute("data-pending", item.key);
      list.appendChild(li);
    });
    box.classList.toggle("d-none", queue.length === 0);
  }

  // Resolves with {answered: bool, ok: bool, data: object}. "Not answered" means try again later.
  function send(url, body) {
    return fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: {
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
        "X-CSRFToken": csrfToken()
      }
    }).then(function (response) {
      if (response.status === 502 || response.status === 503 || response.status === 504) {
        return { answered: false };
      }
      var type = response.headers.get("Content-Type") || "";
      if (type.indexOf("json") === -1) {
        var message = response.status === 400
          ? "This page has expired. Reload it and try again."
          : "The server refused this (" + response.status + "). Reload the page and check.";
        return { answered: true, ok: false, data: { detail: message } };
      }
      return response.json().then(function (data) {
        return { answered: true, ok: response.ok, data: data };
      });
    }, function () {
      return { answered: false };
    });
  }

  function retryQueue() {
    retryTimer = null;
    var queue = loadQueue();
    if (!queue.length) { return; }
    var item = queue[0];
    send(item.url, item.body).then(function (result) {
      if (!result.answered) { scheduleRetry(); return; }
      saveQueue(loadQueue().filter(function (q) { return q.key !== item.key; }));
      if (result.ok) {
        say("success", "Sent: " + item.label + ".", result.data.redirect ? { href: result.data.redirect, text: "Show receipt" } : null);
      } else {
        say("danger", item.label + ": " + (result.data.detail || "refused") + " Nothing was changed.");
      }
      if (loadQueue().length) { retryQueue(); }
    });
  }

  function scheduleRetry() {
    if (!retryTimer) { retryTimer = setTimeout(retryQueue, RETRY_MS); }
  }

  function submitChange(form, event) {
    event.preventDefault();
    var button = $('button[type="submit"]', form);
    if (form.getAttribute("aria-busy") === "true") { return; }  // a double tap: already on its way
    var keyField = $('input[name="idempotency_key"]', form);
    if (keyField && !keyField.value) { keyField.value = newKey(); }
    var body = new URLSearchParams(new FormData(form)).toString();
    var label = form.getAttribute("data-label") || "Change";
    form.setAttribute("aria-busy", "true");
    if (button) { button.disabled = true; }
    send(form.action, body).then(function (result) {
      if (!result.answered) {
        var queue = loadQueue();
        queue.push({ key: keyField ? keyField.value : newKey(), url: form.action, body: body, label: label, at: Date.now() });
        saveQueue(queue);
        say("warning", "No connection: “" + label + "” is kept and will be sent when the network is back.");
        scheduleRetry();
        return;  // the form stays locked: its key belongs to the queued operation
      }
      if (result.ok) {
        if (result.data.message) { sessionStorage.setItem(FLASH_KEY, result.data.message); }
        window.location.assign(result.data.redirect);
        return;
      }
      form.removeAttribute("aria-busy");
      if (button) { button.disabled = false; }
      say("danger", (result.data.detail || "Refused.") + " Nothing was changed.");
    });
  }

  // --- typeahead --------------------------------------------------------------------------

  function setupTypeahead(input) {
    var list = $("#typeahead");
    var timer = null;
    var asked = "";
    input.addEventListener("input", function () {
      clearTimeout(timer);
      var text = input.value.trim();
      if (text.length < 2 || text.indexOf("LY1.") === 0) { list.classList.add("d-none"); return; }
      timer = setTimeout(function () {
        asked = text;
        fetch(input.getAttribute("data-typeahead") + "?q=" + encodeURIComponent(text), {
          headers: { "Accept": "application/json" }, credentials: "same-origin"
        }).then(function (r) { return r.json(); }).then(function (data) {
          if (asked !== input.value.trim()) { return; }
          list.innerHTML = "";
          (data.results || []).forEach(function (m) {
            var li = document.createElement("li");
            li.className = "list-group-item list-group-item-action";
            li.setAttribute("role", "option");
            var a = document.createElement("a");
            a.href = m.url;
            a.className = "stretched-link text-reset text-decoration-none";
            a.textContent = m.name;
            var small = document.createElement("span");
            small.className = "d-block small text-body-secondary font-monospace";
            small.textContent = m.card_number;
            li.appendChild(a);
            li.appendChild(small);
            list.appendChild(li);
          });
          list.classList.toggle("d-none", !(data.results || []).length);
        }).catch(function () { list.classList.add("d-none"); });
      }, 200);
    });
  }

  // --- camera -----------------------------------------------------------------------------

  function setupCamera() {
    var start = $("#camera-start");
    if (!start || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { return; }
    start.classList.remove("d-none");
    var box = $("#camera");
    var video = $("#camera-video");
    var canvas = $("#camera-canvas");
    var stream = null;
    var detector = ("BarcodeDetector" in window) ? new window.BarcodeDetector({ formats: ["qr_code"] }) : null;

    function stop() {
      if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
      stream = null;
      box.classList.add("d-none");
    }

    function found(text) {
      stop();
      var query = $("#query");
      query.value = text;
      $("#identify-form").submit();
    }

    function tick() {
      if (!stream) { return; }
      if (video.readyState < 2) { requestAnimationFrame(tick); return; }
      if (detector) {
        detector.detect(video).then(function (codes) {
          if (codes.length) { found(codes[0].rawValue); } else { setTimeout(tick, 150); }
        }, function () { detector = null; setTimeout(tick, 150); });
        return;
      }
      if (!window.jsQR) { setTimeout(tick, 300); return; }
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      var context = canvas.getContext("2d", { willReadFrequently: true });
      context.drawImage(video, 0, 0, canvas.width, canvas.height);
      var image = context.getImageData(0, 0, canvas.width, canvas.height);
      var code = window.jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
      if (code && code.data) { found(code.data); } else { setTimeout(tick, 150); }
    }

    start.addEventListener("click", function () {
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
        .then(function (s) {
          stream = s;
          video.srcObject = s;
          box.classList.remove("d-none");
          return video.play();
        })
        .then(tick)
        .catch(function () {
          stop();
          say("warning", "The camera is not available here. Use a photo of the card or type the number.");
        });
    });
    $("#camera-stop").addEventListener("click", stop);
  }

  // --- live points preview and basket lines ------------------------------------------------

  function setupPreview(form) {
    var out = $("#preview");
    var idle = out.textContent;  // "…see the points." or "…see the stamps."
    var timer = null;
    var seq = 0;
    function update() {
      var params = new URLSearchParams();
      params.set("amount", $("#amount", form).value);
      var items = $("#items", form);
      if (items && items.value.trim()) { params.set("items", items.value); }
      $all(".basket-line", form).forEach(function (line) {
        params.append("line_amount", $('[name="line_amount"]', line).value);
        params.append("line_category", $('[name="line_category"]', line).value);
      });
      if (!$("#amount", form).value.trim()) { out.textContent = idle; return; }
      var mine = ++seq;
      fetch(form.getAttribute("data-preview") + "?" + params.toString(), {
        headers: { "Accept": "application/json" }, credentials: "same-origin"
      }).then(function (r) {
        return r.json().then(function (data) { return { ok: r.ok, data: data }; });
      }).then(function (result) {
        if (mine !== seq) { return; }
        out.classList.toggle("text-danger", !result.ok);
        if (!result.ok) { out.textContent = result.data.detail || "Check the amount."; return; }
        var d = result.data;
        if (d.stamps) { out.textContent = d.summary; return; }
        var parts = [d.rate + " pt/€"];
        if (d.tier) { parts.push(d.tier + " ×" + d.tier_multiplier); }
        d.promotions.forEach(function (p) { parts.push(p.name + (p.points ? " +" + p.points : "")); });
        out.textContent = "+" + d.points + " points → balance " + d.balance_after + " (" + parts.join(", ") + ")";
      }).catch(function () {
        if (mine === seq) { out.textContent = "Preview unavailable offline; confirming still works."; }
      });
    }
    form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(update, 250); });
    form.addEventListener("change", function () { clearTimeout(timer); timer = setTimeout(update, 50); });

    var add = $("[data-add-line]", form);
    if (add) {
      add.classList.remove("d-none");
      add.addEventListener("click", function () {
        var lines = $("[data-basket-lines]", form);
        var copy = $(".basket-line", lines).cloneNode(true);
        $all("input", copy).forEach(function (i) { i.value = ""; });
        $all("select", copy).forEach(function (s) { s.selectedIndex = 0; });
        lines.appendChild(copy);
        $("input", copy).focus();
      });
    }
  }

  // --- wiring -----------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", function () {
    $all("[data-noscript-only]").forEach(function (el) { el.classList.add("d-none"); });
    $all("[data-autosubmit]").forEach(function (el) {
      el.addEventListener("change", function () { if (el.value) { el.form.submit(); } });
    });
    $all('form[data-till-form="change"]').forEach(function (form) {
      form.addEventListener("submit", function (event) { submitChange(form, event); });
    });
    $all("[data-print]").forEach(function (button) {
      button.classList.remove("d-none");
      button.addEventListener("click", function () { window.print(); });
    });
    var query = $("#query");
    if (query) { setupTypeahead(query); }
    var earn = $("#earn-form");
    if (earn) { setupPreview(earn); }
    setupCamera();
    showCarriedMessage();
    renderQueue(loadQueue());
    if (loadQueue().length) { retryQueue(); }
    window.addEventListener("online", retryQueue);
  });
}());
