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

  // The words come from the page (<meta name="countdown-words">), in the console's language.
  var words = document.querySelector('meta[name="countdown-words"]');
  var units = ((words && words.getAttribute("content")) || "d h m s").split(" ");
  var leftText = (words && words.getAttribute("data-left")) || "{time} left";
  var overdueText = (words && words.getAttribute("data-overdue")) || "overdue by {time}";

  function remaining(due, now) {
    var seconds = Math.round((due - now) / 1000);
    var overdue = seconds < 0;
    seconds = Math.abs(seconds);
    var days = Math.floor(seconds / 86400);
    var hours = Math.floor((seconds % 86400) / 3600);
    var minutes = Math.floor((seconds % 3600) / 60);
    var secs = seconds % 60;
    var text = (days ? days + units[0] + " " : "") + hours + units[1] + " " + pad(minutes) + units[2] + " " + pad(secs) + units[3];
    return (overdue ? overdueText : leftText).replace("{time}", text);
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

  // The queue: j/k move between rows (the row's case link takes the focus, so Enter opens it),
  // x ticks the current row for a bulk decision, / goes to the search box.
  function queueRows() { return Array.prototype.slice.call(document.querySelectorAll("tr.queue-row, tr.appeal-row")); }

  function moveRow(step) {
    var rows = queueRows();
    if (!rows.length) { return false; }
    var index = rows.findIndex(function (row) { return row.contains(document.activeElement); });
    index = index < 0 ? (step > 0 ? 0 : rows.length - 1) : Math.min(rows.length - 1, Math.max(0, index + step));
    rows.forEach(function (row) { row.classList.remove("current"); });
    rows[index].classList.add("current");
    var link = rows[index].querySelector("a.case-link");
    if (link) { link.focus(); link.scrollIntoView({block: "nearest"}); }
    return true;
  }

  function toggleRow() {
    var row = queueRows().find(function (r) { return r.contains(document.activeElement); });
    var box = row && row.querySelector('input[type="checkbox"][name="case"]');
    if (!box) { return false; }
    box.checked = !box.checked;
    box.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }

  function countSelected() {
    var out = document.getElementById("bulk-count");
    if (out) { out.textContent = String(document.querySelectorAll('input[name="case"]:checked').length); }
  }
  document.addEventListener("change", function (event) {
    if (event.target && event.target.name === "case") { countSelected(); }
  });

  // The queue refreshes itself every minute, but not while cases are ticked for a bulk decision
  // (the new table would drop the ticks).
  document.addEventListener("htmx:beforeRequest", function (event) {
    var source = event.detail && event.detail.elt;
    if (source && source.id === "queue-table" && document.querySelector('input[name="case"]:checked')) {
      event.preventDefault();
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    var handled = false;
    if (event.key === "j") { handled = moveRow(1); }
    else if (event.key === "k") { handled = moveRow(-1); }
    else if (event.key === "x") { handled = toggleRow(); }
    else if (event.key === "b") {
      var bulk = document.getElementById("bulk-policy");
      if (bulk) { bulk.focus(); bulk.scrollIntoView({block: "center"}); handled = true; }
    }
    else if (event.key === "/") {
      var box = document.querySelector("input[data-search]");
      if (box) { box.focus(); box.select(); handled = true; }
    }
    if (handled) { event.preventDefault(); }
  });

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
    countSelected();
    var error = document.getElementById("decision-error") || document.getElementById("bulk-error") ||
      document.getElementById("filter-error") || document.getElementById("appeal-error") ||
      document.getElementById("assign-error") || document.getElementById("comment-error");
    if (error) { error.focus(); }
  });
  document.addEventListener("htmx:afterSwap", tick);
})();
