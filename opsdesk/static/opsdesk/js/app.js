/* OpsDesk web shell behaviour. Pages work without it; this only makes them smoother.
   Loaded as a file because the Content-Security-Policy forbids inline scripts. */
(function () {
  "use strict";

  document.documentElement.classList.remove("no-js");
  document.documentElement.classList.add("js");

  // Organisation switcher: submit as soon as another organisation is chosen.
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (select.matches && select.matches("[data-autosubmit]") && select.form) {
      if (select.form.requestSubmit) {
        select.form.requestSubmit();
      } else {
        select.form.submit();
      }
    }
  });

  // Forms that ask before doing something irreversible (e.g. revoking a token).
  document.addEventListener(
    "submit",
    function (event) {
      var form = event.target;
      var question = form.getAttribute && form.getAttribute("data-confirm");
      if (question && !window.confirm(question)) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
    },
    true
  );

  document.addEventListener("click", function (event) {
    var target = event.target;

    // Dismiss a flash message.
    var close = target.closest && target.closest("[data-dismiss]");
    if (close) {
      var box = close.closest(".message");
      if (box) {
        box.remove();
      }
      return;
    }

    // Copy a value (the one-time API token secret) to the clipboard.
    var copy = target.closest && target.closest("[data-copy-target]");
    if (copy) {
      var source = document.getElementById(copy.getAttribute("data-copy-target"));
      if (source && navigator.clipboard) {
        navigator.clipboard.writeText(source.textContent.trim()).then(function () {
          var label = copy.textContent;
          copy.textContent = "Copied";
          window.setTimeout(function () {
            copy.textContent = label;
          }, 1500);
        });
      }
      return;
    }

    // Close open menus when clicking elsewhere.
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(target)) {
        menu.removeAttribute("open");
      }
    });
  });

  // Escape closes an open menu and returns focus to its toggle.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") {
      return;
    }
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      menu.removeAttribute("open");
      var summary = menu.querySelector("summary");
      if (summary) {
        summary.focus();
      }
    });
  });
})();
