// The console's progressive script: the pages work without it; with it, the
// conflict inbox updates itself (server-sent events, /console/inbox/events)
// and "select all" works. Served by syncd itself; no inline script anywhere.
"use strict";

(function () {
  function liveInbox(table) {
    if (!window.EventSource || !window.fetch) return;
    var status = document.getElementById("live-status");
    var rows = document.getElementById("conflict-rows");
    var mark = table.getAttribute("data-mark") || "";
    var source = new EventSource(table.getAttribute("data-live"));

    function refresh() {
      var picked = {};
      rows.querySelectorAll("input[name=ids]:checked").forEach(function (box) {
        picked[box.value] = true;
      });
      return fetch(table.getAttribute("data-rows"), {
        credentials: "same-origin",
        headers: { "X-Console-Fragment": "1" },
      }).then(function (response) {
        if (!response.ok) {
          window.location.reload();
          return;
        }
        return response.text().then(function (html) {
          rows.innerHTML = html;
          rows.querySelectorAll("input[name=ids]").forEach(function (box) {
            box.checked = !!picked[box.value];
          });
          var count = Number(table.getAttribute("data-refreshes")) + 1;
          table.setAttribute("data-refreshes", String(count));
          if (status) status.textContent = table.getAttribute("data-updated");
        });
      });
    }

    source.addEventListener("conflicts", function (message) {
      var data = JSON.parse(message.data);
      var next = data.mark || "";
      if (next === mark) return;
      mark = next;
      refresh();
    });
    source.addEventListener("signed-out", function () {
      source.close();
      window.location.reload();
    });
  }

  function selectAll(box) {
    box.hidden = false;
    box.addEventListener("change", function () {
      var form = box.closest("form");
      form.querySelectorAll("input[name=ids]").forEach(function (other) {
        other.checked = box.checked;
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var table = document.querySelector("table[data-live]");
    if (table) liveInbox(table);
    document.querySelectorAll("input[data-select-all]").forEach(selectAll);
  });
})();
