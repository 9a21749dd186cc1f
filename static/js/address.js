// @ts-check
/*
 * Addresses in the console's forms (the incident's and the Croix-Rouge alert's): the
 * address of a point clicked on the map, and suggestions while one types. The hub answers
 * from the national address base (BAN) or, when it cannot reach it, from its own data
 * (the commune, the nearest camera site): each answer says which, and the field's hint
 * tells the operator.
 *
 * A filled address is only a proposal: whatever the operator typed in the field is never
 * overwritten by a later answer.
 */
import { h } from "./lib/dom.js";
import { api } from "./lib/http.js";

const SEARCH_DELAY_MS = 250;
const MIN_QUERY = 3;

let sequence = 0;

/**
 * An address the hub proposes (geo/geocoding.py): its words and its point.
 * @typedef {{label: string, kind: string, location: import("./lib/incidents.js").Point}} AddressResult
 */
/**
 * The hub's answer: where the addresses come from ("ban", or its own data, said in `notice`).
 * @typedef {{source: string, notice?: string, results?: AddressResult[], address?: AddressResult | null}} AddressAnswer
 */
/**
 * What addressField gives back.
 * @typedef {object} AddressField
 * @property {(text: string) => boolean} propose put `text` in the field unless the operator typed there
 * @property {(text: string, kind?: string) => void} say
 * @property {() => void} close
 */

/**
 * GET …/reverse/?lat=&lon=: {source, notice, address, commune, nearest_site}.
 * @param {string} url
 * @param {{lat: number, lon: number}} point
 * @returns {Promise<AddressAnswer>}
 */
export function reverseAddress(url, { lat, lon }) {
  return api(`${url}?lat=${encodeURIComponent(lat)}&lon=${encodeURIComponent(lon)}`);
}

/** @param {AddressAnswer} answer */
function sourceText(answer) {
  if (answer.source === "ban") return "Adresse : Base Adresse Nationale.";
  return answer.notice || "Adresse estimée d'après les données du centre.";
}

/**
 * Suggestions under ``input`` (an ARIA combobox): arrows to move, Entrée to choose, Échap to
 * close. ``onPick(result)`` gets the chosen address (label, location…). ``hint`` is the
 * element that says where the addresses come from.
 * @param {HTMLInputElement} input
 * @param {{searchUrl: string, hint: HTMLElement | null, onPick: (result: AddressResult) => void}} options
 * @returns {AddressField}
 */
export function addressField(input, { searchUrl, hint, onPick }) {
  const id = `${input.id}-suggestions`;
  const list = h("ul", { id, class: "address-suggestions", role: "listbox", hidden: true,
    "aria-label": "Propositions" });
  input.after(list);
  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", id);
  input.setAttribute("aria-expanded", "false");
  /** @type {AddressResult[]} */
  let results = [];
  let active = -1;
  /** @type {number | undefined} */
  let timer;
  let asked = 0;

  /** @param {string} text @param {string} [kind] */
  function say(text, kind = "") {
    if (!hint) return;
    hint.textContent = text;
    hint.className = `address-hint${kind ? ` ${kind}` : ""}`;
  }

  function close() {
    list.hidden = true;
    list.replaceChildren();
    results = [];
    active = -1;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  /** @param {number} index */
  function highlight(index) {
    active = index;
    list.querySelectorAll("[role=option]").forEach((option, i) => {
      option.setAttribute("aria-selected", String(i === index));
    });
    if (index >= 0) input.setAttribute("aria-activedescendant", `${id}-${index}`);
    else input.removeAttribute("aria-activedescendant");
  }

  /** @param {number} index */
  function pick(index) {
    const result = results[index];
    if (!result) return;
    close();
    input.value = result.label;
    delete input.dataset.autofilled; // chosen by the operator: no later answer replaces it
    onPick(result);
  }

  /** @param {AddressAnswer} answer */
  function show(answer) {
    results = answer.results || [];
    list.replaceChildren(...results.map((result, index) => h("li", {
      id: `${id}-${index}`, role: "option", "aria-selected": "false", class: `kind-${result.kind}`,
      on: {
        // mousedown, not click: the field keeps the focus (its blur would close the list first)
        mousedown: (event) => { event.preventDefault(); pick(index); },
      },
    }, h("span", { class: "address-label", text: result.label }),
    result.kind === "commune" ? h("span", { class: "address-kind", text: "commune" }) : null)));
    const open = results.length > 0;
    list.hidden = !open;
    input.setAttribute("aria-expanded", String(open));
    active = -1;
    say(open ? sourceText(answer) : `Aucune adresse trouvée. ${answer.source === "ban" ? "" : sourceText(answer)}`.trim(),
      answer.source === "ban" ? "" : "local");
  }

  async function search() {
    const q = input.value.trim();
    if (q.length < MIN_QUERY) {
      close();
      return;
    }
    const mine = ++asked;
    try {
      const answer = await api(`${searchUrl}?q=${encodeURIComponent(q)}`);
      if (mine !== asked || input.value.trim() !== q) return; // typed on meanwhile
      show(answer);
    } catch (err) {
      if (mine === asked) say(`Recherche d'adresse indisponible. ${err.message}`, "error");
    }
  }

  input.addEventListener("input", () => {
    delete input.dataset.autofilled; // typed by the operator from now on
    window.clearTimeout(timer);
    timer = window.setTimeout(search, SEARCH_DELAY_MS);
  });
  input.addEventListener("keydown", (event) => {
    if (list.hidden) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      highlight((active + step + results.length) % results.length);
    } else if (event.key === "Enter" && active >= 0) {
      event.preventDefault();
      pick(active);
    } else if (event.key === "Escape") {
      event.stopPropagation(); // Échap closes the list, not the whole form
      close();
    }
  });
  input.addEventListener("blur", () => {
    // The operator left the field: a search still to be sent, or on its way, is for nobody (its
    // list would open under a field no one is in, its words would cover the point's address).
    window.clearTimeout(timer);
    asked += 1;
    window.setTimeout(close, 100);
  });

  return {
    /**
     * Put ``text`` in the field unless the operator typed or chose something there.
     * @param {string} text
     */
    propose(text) {
      if (input.value.trim() && input.dataset.autofilled !== input.value) return false;
      input.value = text;
      input.dataset.autofilled = text;
      return true;
    },
    say,
    close,
  };
}

/**
 * The address of ``point`` proposed to each field of ``fields`` (addressField handles), whose
 * hints say where it comes from. Only the latest point's answer is used.
 * @param {string} url
 * @param {{lat: number, lon: number}} point
 * @param {AddressField[]} fields
 */
export async function proposeAddress(url, point, fields) {
  const mine = ++sequence;
  try {
    const answer = await reverseAddress(url, point);
    if (mine !== sequence) return null;
    const label = answer.address ? answer.address.label : "";
    for (const field of fields) {
      if (label) field.propose(label);
      field.say(label ? sourceText(answer) : (answer.notice || "Aucune adresse connue à cet endroit."),
        answer.source === "ban" ? "" : "local");
    }
    return answer;
  } catch (err) {
    if (mine === sequence) {
      for (const field of fields) field.say(`Adresse non trouvée automatiquement (${err.message}) : saisissez-la.`, "error");
    }
    return null;
  }
}
