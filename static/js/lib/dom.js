// @ts-check
/*
 * Building the page without HTML strings (text from the API is never parsed as HTML), the
 * page's own JSON, and times shown in Paris time whatever the browser's zone.
 */

export const PARIS = "Europe/Paris";
const timeFormat = new Intl.DateTimeFormat("fr-FR", { timeZone: PARIS, hour: "2-digit", minute: "2-digit" });
const secondsFormat = new Intl.DateTimeFormat("fr-FR", {
  timeZone: PARIS, hour: "2-digit", minute: "2-digit", second: "2-digit",
});
const dayFormat = new Intl.DateTimeFormat("fr-FR", { timeZone: PARIS, day: "2-digit", month: "2-digit" });
const fullFormat = new Intl.DateTimeFormat("fr-FR", { timeZone: PARIS, dateStyle: "full", timeStyle: "medium" });

/**
 * What h() takes besides attributes: `class`, `text`, `dataset`, `on` (event → handler); any
 * other key is a DOM property when the element has it and the value is not a string, else an
 * attribute (`true` → present, `null` / `undefined` / `false` → absent).
 * @typedef {{[key: string]: unknown, class?: string | null, text?: string | number | null,
 *   dataset?: Record<string, string>, on?: Handlers}} Props
 */

/** @typedef {{[K in keyof HTMLElementEventMap]?: (event: HTMLElementEventMap[K]) => void}} Handlers */

/** @typedef {Node | string | number | null | undefined | false} Child */

/**
 * h("button", {class: "x", type: "button", dataset: {id: "3"}, on: {click}}, "text", child…)
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Props | null} [props]
 * @param {...(Child | Child[])} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") element.className = String(value);
    else if (key === "text") element.textContent = String(value);
    else if (key === "dataset") Object.assign(element.dataset, value);
    else if (key === "on") {
      for (const [event, handler] of Object.entries(/** @type {Handlers} */ (value))) {
        element.addEventListener(event, /** @type {EventListener} */ (handler));
      }
    } else if (key in element && typeof value !== "string") {
      /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (element))[key] = value;
    } else element.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/**
 * The JSON the template wrote with json_script (labels, agencies, settings of the page).
 * @param {string} id
 * @returns {any} as the server shaped it: each page declares what it expects
 */
export function readJson(id) {
  const element = document.getElementById(id);
  return element ? JSON.parse(element.textContent || "null") : null;
}

/**
 * An element the page's template has, typed as the caller knows it is.
 * @template {HTMLElement} [T=HTMLElement]
 * @param {string} id
 * @returns {T}
 */
export function byId(id) {
  return /** @type {T} */ (document.getElementById(id));
}

/**
 * The first element `selector` matches in `within` (null when none), typed as the caller knows it.
 * @template {HTMLElement} [T=HTMLElement]
 * @param {string} selector
 * @param {ParentNode} [within]
 * @returns {T | null}
 */
export function find(selector, within = document) {
  return /** @type {T | null} */ (within.querySelector(selector));
}

/**
 * Every element `selector` matches in `within`, as an array.
 * @template {HTMLElement} [T=HTMLElement]
 * @param {string} selector
 * @param {ParentNode} [within]
 * @returns {T[]}
 */
export function findAll(selector, within = document) {
  return /** @type {T[]} */ ([...within.querySelectorAll(selector)]);
}

/**
 * @param {Date} a
 * @param {Date} b
 */
export function sameParisDay(a, b) {
  return dayFormat.format(a) === dayFormat.format(b);
}

/**
 * "21:14" today, "25/11 21:14" another day; the full date in the title.
 * @param {string} iso
 * @param {{seconds?: boolean}} [options]
 */
export function timeElement(iso, { seconds = false } = {}) {
  const when = new Date(iso);
  const clock = (seconds ? secondsFormat : timeFormat).format(when);
  return h("time", {
    dateTime: iso,
    title: fullFormat.format(when),
    text: sameParisDay(when, new Date()) ? clock : `${dayFormat.format(when)} ${clock}`,
  });
}

/**
 * The connection badge of the top bar, fed by connectEvents' onStatus. When the session ended
 * (state "ended": the stream stopped for good), it says so and links to the sign-in page
 * (`data-login-url`, else /accounts/login/), which brings the user back here.
 * @param {HTMLElement} element
 * @returns {(label: string, state: string) => void}
 */
export function connectionStatus(element) {
  return (label, state) => {
    element.dataset.state = state;
    if (state !== "ended") {
      element.textContent = label;
      return;
    }
    const login = new URL(element.dataset.loginUrl || "/accounts/login/", window.location.href);
    login.searchParams.set("next", window.location.pathname + window.location.search);
    element.setAttribute("aria-live", "assertive");
    element.title = "Votre session a pris fin : les événements ne sont plus reçus. Reconnectez-vous.";
    element.replaceChildren(
      "Session terminée — ",
      h("a", { href: login.pathname + login.search, class: "connection-login", text: "se reconnecter" }),
    );
  };
}

