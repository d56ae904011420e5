// pyosi UI: keyboard shortcuts and small conveniences. The pages work without it.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  function typing(e) {
    var t = e.target;
    return t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
  }
  var dialog = document.getElementById("shortcuts");
  // Single-key shortcuts can be turned off (WCAG 2.1.4): speech input types letters too.
  var STORE = "pyosi.shortcuts";
  function shortcutsOff() {
    try { return window.localStorage.getItem(STORE) === "off"; } catch (err) { return false; }
  }
  var offBox = document.querySelector("[data-shortcuts-off]");
  if (offBox) {
    offBox.checked = shortcutsOff();
    offBox.addEventListener("change", function () {
      try {
        if (offBox.checked) window.localStorage.setItem(STORE, "off");
        else window.localStorage.removeItem(STORE);
      } catch (err) { /* storage refused: shortcuts stay on */ }
    });
  }
  document.querySelectorAll("[data-shortcuts]").forEach(function (b) {
    b.addEventListener("click", function () { if (dialog) dialog.showModal(); });
  });

  // Queue: j/k select, Enter/o open, clicking a row opens it.
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr[data-row]"));
  var current = -1;
  function select(i) {
    if (!rows.length) return;
    current = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach(function (r, k) {
      r.classList.toggle("selected", k === current);
      if (k === current) r.setAttribute("aria-current", "true");
      else r.removeAttribute("aria-current");
    });
    var link = rows[current].querySelector("a");
    if (link) link.focus();
  }
  rows.forEach(function (r, k) {
    r.addEventListener("click", function (e) {
      if (e.target.tagName !== "A") window.location = r.dataset.href;
    });
  });

  // Item page: c r e t d pick the decision and move to the reason; Ctrl+Enter submits.
  var form = document.querySelector("form[data-decide]");
  var relabel = form && form.querySelector("[data-relabel]");
  function pick(radio) {
    radio.checked = true;
    if (relabel) relabel.classList.toggle("shown", radio.value === "relabel");
    var target = radio.value === "relabel" ? form.querySelector("#label_ko") : form.querySelector("#reason");
    if (target) target.focus();
  }
  if (form) {
    form.querySelectorAll("input[name=action]").forEach(function (r) {
      r.addEventListener("change", function () { pick(r); });
    });
    form.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
    });
  }

  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      var msg = document.documentElement.lang === "ko" ? "정말 진행할까요?" : "Are you sure?";
      if (!window.confirm(msg)) e.preventDefault();
    });
  });

  document.addEventListener("keydown", function (e) {
    if (typing(e) || e.altKey || e.ctrlKey || e.metaKey || (dialog && dialog.open)) return;
    if (shortcutsOff()) return;
    if (e.key === "?") { if (dialog) dialog.showModal(); e.preventDefault(); return; }
    if (e.key === "/") {
      var search = document.querySelector("[data-search]");
      if (search) { search.focus(); e.preventDefault(); }
      return;
    }
    if (rows.length) {
      if (e.key === "j") { select(current + 1); e.preventDefault(); }
      else if (e.key === "k") { select(current - 1); e.preventDefault(); }
      else if (e.key === "o" || (e.key === "Enter" && e.target.tagName !== "A" && e.target.tagName !== "BUTTON")) {
        // (Enter on a focused link or button does what it always does.)
        if (current >= 0) { window.location = rows[current].dataset.href; e.preventDefault(); }
      }
      return;
    }
    if (form) {
      var radio = form.querySelector("input[name=action][data-key='" + e.key + "']");
      if (radio) { pick(radio); e.preventDefault(); return; }
    }
    if (e.key === "u") {
      var back = document.querySelector("[data-back]");
      if (back) window.location = back.getAttribute("href");
    }
  });
})();
