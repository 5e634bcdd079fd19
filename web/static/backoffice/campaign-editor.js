// The campaign editor's live preview: each chosen channel's text with sample values, its length
// and, for SMS, how many parts it costs. The server renders and counts (same code as sending).
(function () {
  "use strict";
  var form = document.getElementById("campaign-form");
  var box = document.getElementById("campaign-previews");
  if (!form || !box) return;
  var labels = { telegram: "Telegram", sms: "SMS", email: "E-mail" };
  var timer = null;
  var asked = 0;

  function value(name) {
    var field = form.elements[name];
    return field ? field.value.trim() : "";
  }

  function channels() {
    var chosen = [];
    ["channel_1", "channel_2", "channel_3"].forEach(function (name) {
      var v = value(name);
      if (v && chosen.indexOf(v) < 0) chosen.push(v);
    });
    return chosen;
  }

  function card(channel, body) {
    var wrap = document.createElement("div");
    wrap.className = "preview-card border rounded p-2 mb-2";
    var head = document.createElement("div");
    head.className = "d-flex justify-content-between small text-body-secondary mb-1";
    var name = document.createElement("span");
    name.className = "fw-semibold";
    name.textContent = labels[channel] || channel;
    var length = document.createElement("span");
    head.appendChild(name);
    head.appendChild(length);
    wrap.appendChild(head);
    if (body.error) {
      length.textContent = "";
      var error = document.createElement("div");
      error.className = "text-danger small";
      error.textContent = body.error;
      wrap.appendChild(error);
      return wrap;
    }
    length.textContent = body.characters + " characters" +
      (channel === "sms" ? " · " + body.segments + " SMS part" + (body.segments === 1 ? "" : "s") + " (" + body.encoding + ")" : "");
    if (body.subject) {
      var subject = document.createElement("div");
      subject.className = "small fw-semibold";
      subject.textContent = body.subject;
      wrap.appendChild(subject);
    }
    var text = document.createElement("div");
    text.className = "preview-text";
    text.textContent = body.text;
    wrap.appendChild(text);
    return wrap;
  }

  function refresh() {
    var ticket = ++asked;
    var chosen = channels();
    var requests = chosen.map(function (channel) {
      var message = value("message_" + channel) || value("message");
      if (!message) return Promise.resolve(null);
      var params = new URLSearchParams({ channel: channel, message: message, subject: value("subject") });
      return fetch(form.dataset.previewUrl + "?" + params.toString(), { credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (body) { return [channel, body]; });
    });
    Promise.all(requests).then(function (answers) {
      if (ticket !== asked) return;
      box.replaceChildren();
      answers.forEach(function (answer) { if (answer) box.appendChild(card(answer[0], answer[1])); });
      if (!box.children.length) {
        var empty = document.createElement("p");
        empty.className = "small text-body-secondary mb-0";
        empty.textContent = "Write a message to see it here.";
        box.appendChild(empty);
      }
    }).catch(function () { /* the Preview button still works */ });
  }

  function soon() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  }

  form.querySelectorAll("[data-preview-input], [data-channel-choice]").forEach(function (input) {
    input.addEventListener("input", soon);
    input.addEventListener("change", soon);
  });

  // Show the date field only when it is used.
  function schedule() {
    var checked = form.querySelector("input[name=schedule]:checked");
    var kind = checked ? checked.value : "now";
    var sendAt = form.elements.send_at;
    var repeat = form.elements.repeat_days;
    if (sendAt) sendAt.closest(".col-sm-7").hidden = kind === "now";
    if (repeat) repeat.closest(".col-sm-5").hidden = kind !== "recurring";
  }
  form.querySelectorAll("input[name=schedule]").forEach(function (radio) {
    radio.addEventListener("change", schedule);
  });
  schedule();
})();
