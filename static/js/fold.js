// @ts-check
/**
 * Long texts folded: an incident's description, main courante entries, radio messages and
 * Croix-Rouge alerts show a few lines, then "lire la suite" unfolds them and "réduire" folds
 * them back. Loaded by every page (templates/base.html); it watches the page for such texts,
 * since the pages' scripts draw them as events arrive. The two words come from the page
 * (data-fold-more / data-fold-less on <body>, translated on the server).
 */

/** @typedef {HTMLElement & {_foldToggle?: HTMLButtonElement}} Foldable */

const SELECTOR = ".panel-description, .journal-text, .radio-text, .alert-description, [data-fold]";
const labels = () => ({
  more: document.body.dataset.foldMore || "…",
  less: document.body.dataset.foldLess || "−",
});

let counter = 0;
const resized = new ResizeObserver((entries) => {
  for (const entry of entries) {
    // A text taken out of the page (redrawn) is forgotten, not watched all night.
    if (entry.target.isConnected) measure(/** @type {Foldable} */ (entry.target));
    else resized.unobserve(entry.target);
  }
});

/** Show the toggle only when the folded text is in fact cut (measured, not guessed). */
/** @param {Foldable} text */
function measure(text) {
  const toggle = text._foldToggle;
  if (!toggle || toggle.getAttribute("aria-expanded") === "true") return;
  if (!text.isConnected || text.getClientRects().length === 0) return; // hidden: measured when shown
  toggle.hidden = text.scrollHeight <= text.clientHeight + 1;
}

/** @param {Foldable} text */
function fold(text) {
  if (text._foldToggle) return;
  if (!text.id) text.id = `fold-${++counter}`;
  const toggle = document.createElement("button");
  toggle.type = "button";
  toggle.className = "fold-toggle";
  toggle.setAttribute("aria-controls", text.id);
  toggle.setAttribute("aria-expanded", "false");
  toggle.textContent = labels().more;
  toggle.hidden = true;
  toggle.addEventListener("click", (event) => {
    event.stopPropagation(); // a folded text sits in clickable rows (open the incident)
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    text.classList.toggle("fold-clamped", !open);
    toggle.textContent = open ? labels().less : labels().more;
    if (!open) measure(text);
  });
  text._foldToggle = toggle;
  text.classList.add("fold-clamped");
  text.after(toggle);
  resized.observe(text);
  measure(text);
}

/** @param {Node} root */
function scan(root) {
  if (!(root instanceof HTMLElement)) return;
  if (root.matches(SELECTOR)) fold(root);
  for (const text of root.querySelectorAll(SELECTOR)) if (text instanceof HTMLElement) fold(text);
}

function start() {
  scan(document.body);
  new MutationObserver((mutations) => {
    for (const mutation of mutations) {
      for (const node of mutation.addedNodes) scan(node);
    }
  }).observe(document.body, { childList: true, subtree: true });
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start, { once: true });
} else {
  start();
}
