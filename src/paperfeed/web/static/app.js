// paperfeed: keyboard shortcuts, the theme switch without a reload, and a few HTMX touches.
// Everything here is an extra: every page works without it.
(() => {
  "use strict";
  const doc = document.documentElement;

  // -- the theme switch: apply at once, remember by the same form post (a cookie) --
  const NEXT_THEME = { system: "dark", dark: "light", light: "system" };
  const THEME_LABEL = { system: "as the system", dark: "dark", light: "light" };
  function setTheme(button, theme) {
    if (theme === "system") delete doc.dataset.theme; else doc.dataset.theme = theme;
    document.querySelector('meta[name="color-scheme"]').content =
      theme === "system" ? "light dark" : theme;
    const next = NEXT_THEME[theme];
    button.value = next;
    button.dataset.themeNow = theme;
    button.querySelector(".visually-hidden").textContent =
      `Theme: ${THEME_LABEL[theme]}. Switch to ${next}`;
  }
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!form.matches(".theme-switch")) return;
    event.preventDefault();
    const button = form.querySelector("button");
    const body = new FormData(form);
    body.set("theme", button.value);
    fetch(form.action, { method: "POST", body, headers: { Accept: "application/json" } });
    setTheme(button, button.value);
  });

  // -- keyboard: j/k move between cards, o/Enter open, u upvote, x abstract, / search, ? help --
  const cards = () => [...document.querySelectorAll("article.card")];
  const reduceMotion = matchMedia("(prefers-reduced-motion: reduce)");
  function current() {
    return document.activeElement && document.activeElement.closest
      ? document.activeElement.closest("article.card") : null;
  }
  function move(step) {
    const all = cards();
    if (!all.length) return;
    const here = all.indexOf(current());
    const index = here < 0 ? (step > 0 ? 0 : all.length - 1)
      : Math.min(all.length - 1, Math.max(0, here + step));
    const card = all[index];
    card.focus({ preventScroll: true });
    card.scrollIntoView({ block: "nearest", behavior: reduceMotion.matches ? "auto" : "smooth" });
  }
  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable], dialog");
  }
  const help = document.getElementById("shortcuts");
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    const card = current();
    const actions = {
      j: () => move(1),
      k: () => move(-1),
      o: () => card && card.querySelector("h3 a").click(),
      Enter: () => card && event.target === card && card.querySelector("h3 a").click(),
      u: () => card && card.querySelector("button.votes").click(),
      x: () => card && (card.querySelector(".abstract .more") || { click() {} }).click(),
      "/": () => {
        const box = document.getElementById("q") || document.getElementById("header-q");
        if (box && box.offsetParent) box.focus(); else location.href = "/search";
      },
      "?": () => help.showModal(),
    };
    const action = actions[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  });
  for (const element of document.querySelectorAll(".js-only")) element.hidden = false;
  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-shortcuts]")) help.showModal();
  });

  // -- HTMX: search errors are shown, the result count is announced, focus follows --
  // A refused query, or a day without papers, is a page that says why: show it.
  document.addEventListener("htmx:beforeSwap", (event) => {
    const { xhr, requestConfig, boosted } = event.detail;
    const searching = requestConfig.elt.closest("#search-form");
    if ((searching || boosted) && (xhr.status === 400 || xhr.status === 404)) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  document.addEventListener("htmx:afterSwap", (event) => {
    const status = document.getElementById("search-status");
    if (status && event.detail.target.id === "search-results") {
      const line = event.detail.target.querySelector(".count-line, .message");
      status.textContent = line ? line.textContent : "";
    }
  });
})();
