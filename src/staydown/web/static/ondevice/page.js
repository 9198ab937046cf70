/* The on-device fingerprint page: pick pictures, show them only here, hash them in Web Workers,
 * and put only the hashes into the form.
 *
 * The file pickers are outside the form, so the browser could not send a picture with it even if
 * this script failed half-way; the form carries one line of hashes per picture (the hidden
 * "pictures" field) and the declaration, and is sent as an ordinary form post. Every sentence
 * shown comes from the page (#ondevice-messages), so that it can be translated with the page.
 */
(function () {
  "use strict";

  var root = document.getElementById("ondevice");
  if (!root) return;
  var form = document.getElementById("pictures-form");
  var field = document.getElementById("f-pictures");
  var list = document.getElementById("picture-list");
  var status = document.getElementById("hash-status");
  var summary = document.getElementById("send-summary");
  var MAX = parseInt(root.getAttribute("data-max"), 10) || 40;
  var MIN_QUALITY = parseInt(root.getAttribute("data-min-quality"), 10) || 50;
  var VARIANTS = ["rotate90", "rotate180", "rotate270", "flip_x", "flip_y", "transpose", "transverse"];

  function msg(key, vars) {
    var el = document.querySelector('#ondevice-messages [data-msg="' + key + '"]');
    var text = el ? el.textContent : key;
    Object.keys(vars || {}).forEach(function (k) { text = text.split("{" + k + "}").join(String(vars[k])); });
    return text;
  }

  root.hidden = false;
  if (!window.Worker || !window.crypto || !window.crypto.subtle || !window.createImageBitmap) {
    status.textContent = msg("no-crypto");
    form.querySelector("button[type=submit]").disabled = true;
    return;
  }

  // -- the workers: a small pool, one picture each at a time ----------------------------------
  var poolSize = Math.max(1, Math.min(4, navigator.hardwareConcurrency || 2));
  var workers = [], idle = [], queue = [], waiting = {}, nextId = 1;
  for (var w = 0; w < poolSize; w++) {
    var worker = new Worker("/static/ondevice/worker.js");
    worker.onmessage = onResult;
    workers.push(worker);
    idle.push(worker);
  }

  function onResult(event) {
    var data = event.data, job = waiting[data.id];
    delete waiting[data.id];
    idle.push(job.worker);
    job.resolve(data);
    pump();
  }

  function pump() {
    while (idle.length && queue.length) {
      var job = queue.shift(), worker = idle.pop();
      job.worker = worker;
      waiting[job.id] = job;
      worker.postMessage(job.message);
    }
  }

  function hash(message) {
    return new Promise(function (resolve) {
      var id = nextId++;
      message.id = id;
      queue.push({ id: id, message: message, resolve: resolve });
      pump();
    });
  }

  // For tests and the benchmark: the same workers, given raw pixels or a file.
  window.StaydownOndevice = {
    hashPixels: function (pixels, width, height, channels) {
      return hash({ pixels: pixels, width: width, height: height, channels: channels });
    },
    hashFile: function (file) { return hash({ file: file }); },
  };

  // -- the pictures -------------------------------------------------------------------------
  var pictures = [];  // {n, file, li, state, line}

  function isPicture(file) {
    return /^image\//.test(file.type) || /\.(jpe?g|png|gif|webp|bmp|avif|heic|heif|tiff?)$/i.test(file.name);
  }

  function add(files) {
    var chosen = Array.prototype.filter.call(files, isPicture);
    var room = MAX - pictures.filter(function (p) { return p.state !== "removed"; }).length;
    if (chosen.length > room) {
      status.textContent = msg("too-many", { max: MAX });
      chosen = chosen.slice(0, Math.max(0, room));
    }
    chosen.forEach(function (file) {
      var p = { n: pictures.length + 1, file: file, state: "hashing", line: "" };
      pictures.push(p);
      p.li = item(p);
      list.appendChild(p.li);
      hash({ file: file }).then(function (result) { done(p, result); });
    });
    update();
  }

  function item(p) {
    var li = document.createElement("li");
    li.className = "picture";
    var img = document.createElement("img");
    img.src = URL.createObjectURL(p.file);  // a local address: the picture is shown, not sent
    img.alt = msg("picture-alt", { n: p.n, name: p.file.name });
    img.decoding = "async";
    var text = document.createElement("div");
    text.className = "picture-text";
    var name = document.createElement("p");
    name.className = "picture-name";
    name.textContent = p.file.name;
    var state = document.createElement("p");
    state.className = "picture-state";
    state.textContent = msg("hashing");
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "secondary";
    remove.textContent = msg("remove");
    remove.setAttribute("aria-label", msg("remove-label", { n: p.n }));
    remove.addEventListener("click", function () {
      p.state = "removed";
      URL.revokeObjectURL(img.src);
      li.remove();
      update();
      document.getElementById("pick-files").focus();
    });
    text.appendChild(name);
    text.appendChild(state);
    li.appendChild(img);
    li.appendChild(text);
    li.appendChild(remove);
    p.stateEl = state;
    return li;
  }

  function done(p, r) {
    if (p.state === "removed") return;
    if (!r.ok) {
      p.state = "refused";
      p.stateEl.textContent = msg(r.code === "too_large" ? "too-large" : r.code === "unreadable" ? "unreadable" : "failed");
    } else if (r.quality < MIN_QUALITY) {
      p.state = "refused";
      p.stateEl.textContent = msg("too-plain", { quality: r.quality, min: MIN_QUALITY });
    } else {
      p.state = "ready";
      p.line = [r.quality, r.pdq, r.md5, r.sha256].concat(VARIANTS.map(function (name) {
        return r.variants.filter(function (v) { return v.name === name; })[0].pdq;
      })).join(" ");
      p.stateEl.textContent = msg("ready");
    }
    p.li.classList.add("picture-" + p.state);
    update();
  }

  var kept = field.value.trim();  // hashes the server sent back with an error: still valid

  function update() {
    var live = pictures.filter(function (p) { return p.state !== "removed"; });
    var ready = live.filter(function (p) { return p.state === "ready"; });
    var pending = live.filter(function (p) { return p.state === "hashing"; });
    if (live.length) {
      kept = "";
      field.value = ready.map(function (p) { return p.line; }).join("\n");
      status.textContent = pending.length ? msg("working", { done: live.length - pending.length, total: live.length })
        : msg("all-ready", { ready: ready.length, total: live.length });
    } else {
      field.value = kept;
      if (kept) status.textContent = msg("kept", { ready: kept.split("\n").length });
    }
    var count = field.value ? field.value.split("\n").length : 0;
    summary.textContent = count ? msg("send-summary", { ready: count }) : "";
  }

  ["pick-files", "pick-folder"].forEach(function (id) {
    var input = document.getElementById(id);
    input.addEventListener("change", function () {
      add(input.files);
      input.value = "";  // the same files may be chosen again after a removal
    });
  });
  if (!("webkitdirectory" in document.createElement("input"))) {
    document.getElementById("pick-folder-field").hidden = true;
  }

  form.addEventListener("submit", function (event) {
    var pending = pictures.some(function (p) { return p.state === "hashing"; });
    if (pending || !field.value.trim()) {
      event.preventDefault();
      status.textContent = msg(pending ? "wait" : "none-ready");
      status.focus();
    }
  });
  status.tabIndex = -1;
  update();
})();
