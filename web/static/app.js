// Our own JavaScript, kept small: every page works without it; htmx makes them quicker.
(function () {
  "use strict";

  // A form with errors: take the keyboard and the screen reader to the summary at its top.
  function focusErrorSummary(root) {
    var summary = (root || document).querySelector("[data-error-summary]");
    if (summary) { summary.focus(); return true; }
    return false;
  }

  document.addEventListener("DOMContentLoaded", function () { focusErrorSummary(document); });

  // A link of the error summary puts the keyboard in its field (a plain #link only scrolls there).
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-error-summary] a[href^='#']");
    if (!link) { return; }
    var field = document.getElementById(link.getAttribute("href").slice(1));
    if (!field) { return; }
    event.preventDefault();
    var label = document.querySelector("label[for='" + field.id + "']");
    (label || field).scrollIntoView({ block: "start" });
    field.focus({ preventScroll: true });
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    if (focusErrorSummary(event.target)) { return; }
    // The link that was clicked was replaced: keep the keyboard in the part that changed.
    if (document.activeElement === document.body || !document.contains(document.activeElement)) {
      var target = event.detail.target;
      if (target && target.hasAttribute("tabindex")) { target.focus(); }
    }
  });

  // "Copy" buttons (hidden without JavaScript, where the text field can be selected and copied by hand).
  function showCopyButtons(root) {
    (root || document).querySelectorAll("[data-copy]").forEach(function (button) { button.hidden = false; });
  }
  document.addEventListener("DOMContentLoaded", function () { showCopyButtons(document); });
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) { return; }
    var field = document.getElementById(button.getAttribute("data-copy"));
    var status = button.parentNode.querySelector(".copy-status");
    if (!field) { return; }
    field.select();
    var done = function () { if (status) { status.textContent = status.getAttribute("data-copied-text"); } };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });

  // A part of a page that could not be loaded: load the whole page, which explains the error.
  document.addEventListener("htmx:responseError", function (event) {
    var config = event.detail.requestConfig;
    if (config && config.verb === "get") { window.location.assign(event.detail.pathInfo.requestPath); }
  });
})();
