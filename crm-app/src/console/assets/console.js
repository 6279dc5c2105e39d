// CutList CRM console: drag and drop on the pipeline board. Every move it
// makes goes through the card's own move form (the one a keyboard or a
// tablet uses), so the server's pipeline rule decides; the script only
// shows, during a drag, which columns the card may not go to.
"use strict";

(function () {
  const board = document.querySelector(".board");
  if (!board) return;
  const announce = document.getElementById("announce");
  let dragged = null;

  function say(text) {
    if (announce) announce.textContent = text;
  }

  function columns() {
    return Array.from(board.querySelectorAll(".column"));
  }

  function allowed(card) {
    return (card.dataset.allowed || "").split(" ").filter(Boolean);
  }

  function clear() {
    columns().forEach((c) => c.classList.remove("refused", "drop-ok"));
  }

  board.addEventListener("dragstart", (event) => {
    const card = event.target.closest && event.target.closest(".card");
    if (!card) return;
    dragged = card;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.lead);
    const ok = allowed(card);
    columns().forEach((column) => {
      const status = column.dataset.status;
      if (status === card.dataset.status) return;
      column.classList.add(ok.includes(status) ? "drop-ok" : "refused");
    });
  });

  board.addEventListener("dragover", (event) => {
    const column = event.target.closest && event.target.closest(".column");
    if (!dragged || !column) return;
    // Every column takes the drop, so that a refused one can say why.
    event.preventDefault();
    if (allowed(dragged).includes(column.dataset.status)) {
      event.dataTransfer.dropEffect = "move";
    }
  });

  board.addEventListener("drop", (event) => {
    const column = event.target.closest && event.target.closest(".column");
    const card = dragged;
    if (!card || !column) return;
    event.preventDefault();
    clear();
    dragged = null;
    const to = column.dataset.status;
    if (to === card.dataset.status) return;
    if (!allowed(card).includes(to)) {
      refuse(card);
      return;
    }
    const form = card.querySelector(".move-form");
    if (!form) return;
    form.querySelector("select[name=to]").value = to;
    if (to === "lost") {
      // A lost lead needs its reason: open the card's menu and ask.
      const details = card.querySelector("details.move");
      details.open = true;
      const reason = form.querySelector("select[name=lost_reason]");
      reason.focus();
      say("Choose why the lead was lost, then press Move lead.");
      return;
    }
    form.requestSubmit();
  });

  function refuse(card) {
    const text = "That move is not allowed. " + (card.dataset.explain || "");
    say(text);
    let note = document.getElementById("refused-move");
    if (!note) {
      note = document.createElement("div");
      note.id = "refused-move";
      note.className = "flash problem";
      note.setAttribute("role", "alert");
      board.parentNode.insertBefore(note, board);
    }
    note.textContent = text;
  }

  board.addEventListener("dragend", () => {
    clear();
    dragged = null;
  });
})();

// An import's progress, updated in place while it runs (without the
// script, the page has a link that shows the latest progress).
(function () {
  if (!document.querySelector("[data-poll]")) return;
  function poll() {
    fetch(window.location.href, { credentials: "same-origin" })
      .then((response) => (response.ok ? response.text() : Promise.reject(response.status)))
      .then((html) => {
        const next = new DOMParser().parseFromString(html, "text/html");
        const region = document.getElementById("import-progress");
        const update = next.getElementById("import-progress");
        if (region && update) {
          region.innerHTML = update.innerHTML;
          window.setTimeout(poll, 700);
          return;
        }
        // Finished: show the result and say so.
        const main = document.querySelector("main");
        const result = next.querySelector("main");
        if (main && result) {
          main.replaceWith(result);
          document.title = next.title;
          const heading = result.querySelector("h1");
          if (heading) {
            heading.setAttribute("tabindex", "-1");
            heading.focus();
          }
        }
      })
      .catch(() => window.setTimeout(poll, 3000));
  }
  window.setTimeout(poll, 700);
})();
