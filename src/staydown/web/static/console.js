/* staydown console: live countdowns, one-key shortcuts, and the CSRF header on HTMX requests.
   Progressive enhancement only: every page works without this file (countdowns are server text,
   shortcuts are ordinary buttons and radios). No inline script anywhere (CSP). */
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // Every HTMX request carries the token; the server checks it on every POST.
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });

  // A refused reveal (the day's budget is used) answers 429 with a message meant for the page.
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr && event.detail.xhr.status === 429) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function remaining(due, now) {
    var seconds = Math.round((due - now) / 1000);
    var overdue = seconds < 0;
    seconds = Math.abs(seconds);
    var days = Math.floor(seconds / 86400);
    var hours = Math.floor((seconds % 86400) / 3600);
    var minutes = Math.floor((seconds % 3600) / 60);
    var secs = seconds % 60;
    var text = (days ? days + "d " : "") + hours + "h " + pad(minutes) + "m " + pad(secs) + "s";
    return overdue ? "overdue by " + text : text + " left";
  }

  function tick() {
    var now = Date.now();
    var clocks = document.querySelectorAll("time[data-countdown]");
    for (var i = 0; i < clocks.length; i++) {
      var el = clocks[i];
      var due = Date.parse(el.getAttribute("datetime"));
      if (isNaN(due)) { continue; }
      el.textContent = remaining(due, now);
      el.classList.toggle("overdue", due <= now);
      el.classList.toggle("soon", due > now && due - now < 6 * 3600 * 1000);
    }
  }

  function typing(target) {
    if (!target || !target.tagName) { return false; }
    var tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  // One key for the common actions: elements declare their key with data-key. A radio is chosen
  // and the facts field focused (a decision still needs facts and a click); a button is pressed.
  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    var key = event.key;
    if (!key || key.length !== 1) { return; }
    var el = document.querySelector('[data-key="' + key.toLowerCase() + '"]');
    if (!el) { return; }
    event.preventDefault();
    if (el.type === "radio") {
      el.checked = true;
      el.dispatchEvent(new Event("change", { bubbles: true }));
      var facts = document.getElementById("facts");
      if (facts) { facts.focus(); }
    } else {
      el.click();
    }
  });

  // Actions apply only to "violates": grey them out otherwise (the server ignores them anyway).
  function syncActions() {
    var fieldset = document.getElementById("decision-actions");
    var chosen = document.querySelector('input[name="outcome"]:checked');
    if (fieldset) { fieldset.disabled = !!chosen && chosen.value !== "violates"; }
  }
  document.addEventListener("change", function (event) {
    if (event.target && event.target.name === "outcome") { syncActions(); }
  });
  document.addEventListener("htmx:afterSwap", syncActions);

  document.addEventListener("DOMContentLoaded", function () {
    syncActions();
    tick();
    window.setInterval(tick, 1000);
    var error = document.getElementById("decision-error");
    if (error) { error.focus(); }
  });
  document.addEventListener("htmx:afterSwap", tick);
})();
