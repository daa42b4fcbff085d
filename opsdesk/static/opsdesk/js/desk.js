/* Service desk keyboard shortcuts and small conveniences. Loaded as a file (the
   Content-Security-Policy forbids inline scripts); pages work without it.

   Queue:    j / k move the selection, Enter or o opens, x ticks for bulk update, / searches.
   Incident: c comment, w work note, a assign to me, r resolve.
   Anywhere: ? shows the list. Keys are ignored while typing in a field. */
(function () {
  "use strict";

  var selected = -1;

  function typing(target) {
    if (!target || !target.closest) {
      return false;
    }
    if (target.isContentEditable) {
      return true;
    }
    return Boolean(target.closest("input, textarea, select, [contenteditable]"));
  }

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-queue] .queue-row"));
  }

  function select(index) {
    var list = rows();
    if (!list.length) {
      return;
    }
    index = Math.max(0, Math.min(index, list.length - 1));
    list.forEach(function (row, i) {
      row.classList.toggle("is-selected", i === index);
      if (i === index) {
        row.setAttribute("aria-current", "true");
      } else {
        row.removeAttribute("aria-current");
      }
    });
    selected = index;
    if (list[index].scrollIntoView) {
      list[index].scrollIntoView({ block: "nearest" });
    }
  }

  function current() {
    var list = rows();
    return selected >= 0 && selected < list.length ? list[selected] : null;
  }

  function updateBulkCount() {
    var label = document.querySelector("[data-bulk-count]");
    if (!label) {
      return;
    }
    var n = document.querySelectorAll("[data-bulk-check]:checked").length;
    label.textContent = n
      ? n + " selected"
      : "Tick incidents (x) to update several at once.";
    var bar = document.getElementById("bulk-form");
    if (bar) {
      bar.classList.toggle("has-selection", n > 0);
    }
  }

  function showHelp() {
    var dialog = document.getElementById("shortcuts-dialog");
    if (dialog && !dialog.open && dialog.showModal) {
      dialog.showModal();
    }
  }

  function chooseKind(kind) {
    var radio = document.querySelector('.comment-form input[name="kind"][value="' + kind + '"]');
    var box = document.getElementById("comment-body");
    if (radio && box) {
      radio.checked = true;
      radio.dispatchEvent(new Event("change", { bubbles: true }));
      box.focus();
      return true;
    }
    return false;
  }

  function markKind() {
    var form = document.querySelector(".comment-form");
    if (!form) {
      return;
    }
    var checked = form.querySelector('input[name="kind"]:checked');
    form.classList.toggle("is-note", Boolean(checked && checked.value === "work_note"));
  }

  var queueKeys = {
    j: function () {
      select(selected + 1);
    },
    k: function () {
      select(selected < 0 ? 0 : selected - 1);
    },
    o: function () {
      var row = current();
      if (row) {
        window.location.assign(row.getAttribute("data-href"));
      }
    },
    Enter: function () {
      queueKeys.o();
    },
    x: function () {
      var row = current();
      var box = row && row.querySelector("[data-bulk-check]");
      if (box) {
        box.checked = !box.checked;
        updateBulkCount();
      }
    },
    "/": function () {
      var search = document.querySelector("[data-queue-search]");
      if (search) {
        search.focus();
        search.select();
      }
    },
  };

  var incidentKeys = {
    c: function () {
      chooseKind("comment");
    },
    w: function () {
      chooseKind("work_note");
    },
    a: function () {
      var form = document.getElementById("assign-me-form");
      var button = form && form.querySelector("button");
      if (form && button && !button.disabled) {
        if (form.requestSubmit) {
          form.requestSubmit();
        } else {
          form.submit();
        }
      }
    },
    r: function () {
      var panel = document.querySelector("[data-resolve-panel]");
      if (panel) {
        panel.open = true;
        // The opened content is laid out on the next frame; focus it then.
        window.requestAnimationFrame(function () {
          panel.scrollIntoView({ block: "center" });
          var first = panel.querySelector("select, textarea, input:not([type=hidden])");
          if (first) {
            first.focus();
          }
        });
      }
    },
  };

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) {
      return;
    }
    if (typing(event.target)) {
      return;
    }
    var key = event.key;
    if (key === "?") {
      event.preventDefault();
      showHelp();
      return;
    }
    var onQueue = Boolean(document.querySelector("[data-queue]"));
    var onIncident = Boolean(document.querySelector("[data-incident]"));
    var handler = null;
    if (onQueue && Object.prototype.hasOwnProperty.call(queueKeys, key)) {
      if (key === "Enter" && event.target.closest && event.target.closest("a, button")) {
        return; // Enter on a link or a button keeps its own meaning
      }
      handler = queueKeys[key];
    } else if (onIncident && Object.prototype.hasOwnProperty.call(incidentKeys, key)) {
      handler = incidentKeys[key];
    }
    if (handler) {
      event.preventDefault();
      handler();
    }
  });

  document.addEventListener("click", function (event) {
    var help = event.target.closest && event.target.closest("[data-shortcuts-help]");
    if (help) {
      showHelp();
    }
  });

  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("[data-bulk-check]")) {
      updateBulkCount();
    }
    if (event.target.matches && event.target.matches('.comment-form input[name="kind"]')) {
      markKind();
    }
  });

  // The queue's results are swapped by htmx when filters change: start the selection over.
  document.addEventListener("htmx:afterSwap", function () {
    selected = -1;
    updateBulkCount();
  });

  document.addEventListener("DOMContentLoaded", function () {
    updateBulkCount();
    markKind();
  });
})();
