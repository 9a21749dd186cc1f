// @ts-check
/*
 * /requisitions/ — judicial requisitions (docs/recordings.md): record one (the covered
 * recordings are held at once), start its extraction, follow it live (requisition.progress
 * events), download the MP4s and the signed manifest, record the hand-over; a supervisor
 * releases a hold in force, giving the reason.
 */
import { PARIS, byId, connectionStatus, find, h, readJson } from "./lib/dom.js";
import { connectEvents } from "./lib/events.js";
import { api } from "./lib/http.js";

/**
 * A hold (gel) of a requisition's recordings.
 * @typedef {{id: number, requisition: number, camera_code: string, segment?: number | null,
 *   released_at?: string | null, released_by?: string | null, release_reason?: string}} Hold
 */
/**
 * A requisition as the API gives it (GET /api/streaming/requisitions/).
 * @typedef {{[field: string]: any, id: number, status: string, progress: number, error?: string,
 *   holds: Hold[], files: Array<{[field: string]: any, kind: string, name: string, url: string, sha256: string}>,
 *   handovers: Array<{at: string, by: string, recipient: string}>}} Requisition
 */

const root = byId("requisitions");
const API = root.dataset.api;
/** @type {HTMLFormElement} */
const form = byId("requisition-form");
const notice = byId("req-notice");
const list = byId("requisition-list");
const empty = byId("req-empty");
/** @type {Map<number, Requisition>} */
const items = new Map();
// Only a supervisor is offered "Lever le gel" (the release API refuses anyone else anyway).
const SUPERVISOR = root.dataset.supervisor === "true";
const RELEASE = root.dataset.holdReleaseTemplate;
// The open release forms, hold id -> {requisitionId, reason, error, busy}: a progress event
// re-renders the requisition, and must not lose the reason being typed.
/** @type {Map<number, {requisitionId: number, reason: string, error: string, busy: boolean}>} */
const releasing = new Map();

/**
 * The words of the server's codes, written by the template in French (json_script
 * "page-labels"): the browser translates no code itself.
 * @type {{status: Record<string, string>, file_kind: Record<string, string>}}
 */
const LABELS = readJson("page-labels") || { status: {}, file_kind: {} };
const STATUS = LABELS.status;
const KINDS = LABELS.file_kind;

/** @param {string} iso */
function when(iso) {
  return new Date(iso).toLocaleString("fr-FR", { timeZone: PARIS });
}

/** @param {string} text */
function showNotice(text) {
  notice.textContent = text;
  notice.hidden = !text;
}

/** @param {Requisition} requisition */
function fileLinks(requisition) {
  if (requisition.status !== "done") return null;
  // Files the retention sweep destroyed (their images past their retention, no hold in force).
  /** @type {Array<{camera: string, name: string, destroyed_at: string}>} */
  const destroyedFiles = requisition.destroyed_files || [];
  const destroyed = destroyedFiles.map((file) => h("li", { class: "file-destroyed" },
    `Vidéo ${file.camera} (${file.name}) détruite le ${when(file.destroyed_at)} (durée de conservation)`));
  if (!requisition.files.length && !destroyed.length) return null;
  return h("ul", { class: "requisition-files" }, ...requisition.files.map((file) => h("li", {},
    h("a", { href: file.url, download: file.name, class: `file-${file.kind}`, dataset: { name: file.name } },
      file.kind === "video" ? `Vidéo ${file.camera} (${file.name})` : `${KINDS[file.kind] || file.name} (${file.name})`),
    " ", h("code", { class: "sha256", title: "SHA-256" }, file.sha256))), ...destroyed);
}

/**
 * @param {Requisition} requisition
 * @param {string} path
 * @param {object} [body]
 */
async function act(requisition, path, body) {
  try {
    const updated = await api(`${API}${requisition.id}/${path}/`, { method: "POST", body });
    show(updated);
    showNotice("");
  } catch (err) {
    showNotice(err.message);
  }
}

/** @param {Hold} hold */
function holdText(hold) {
  if (!hold.released_at) return `Gel ${hold.camera_code} en vigueur`;
  const by = hold.released_by ? ` par ${hold.released_by}` : "";
  return `Gel ${hold.camera_code} levé le ${when(hold.released_at)}${by} (${hold.release_reason})`;
}

/** @param {Hold[]} holds */
function holdLine(holds) {
  /** @type {Array<Node | string>} */
  const parts = [];
  holds.forEach((hold, index) => {
    if (index) parts.push(" · ");
    parts.push(h("span", { class: `hold ${hold.released_at ? "released" : "in-force"}`, dataset: { id: String(hold.id) } },
      holdText(hold)));
    if (SUPERVISOR && !hold.released_at && !releasing.has(hold.id)) {
      parts.push(" ", h("button", {
        type: "button", class: "release", "aria-label": `Lever le gel ${hold.camera_code}`,
        on: { click: () => openRelease(hold) },
      }, "Lever le gel"));
    }
  });
  return h("p", { class: "holds" }, ...parts);
}

/** @param {Hold} hold */
function releaseForm(hold) {
  const state = releasing.get(hold.id);
  const input = h("input", {
    id: `release-reason-${hold.id}`, name: "reason", required: true, maxlength: 500, autocomplete: "off",
    value: state.reason, dataset: { focusKey: `release-${hold.id}` },
    on: { input: (event) => { state.reason = /** @type {HTMLInputElement} */ (event.target).value; } },
  });
  return h("form", {
    class: "hold-release", dataset: { hold: String(hold.id) },
    on: { submit: (event) => { event.preventDefault(); release(hold.id); } },
  },
  h("label", { for: input.id }, `Motif de la levée du gel ${hold.camera_code}`), input,
  h("button", { type: "submit", class: "confirm-release", disabled: state.busy }, "Confirmer la levée"),
  h("button", { type: "button", on: { click: () => closeRelease(hold.id) } }, "Annuler"),
  state.error ? h("p", { class: "notice", role: "alert" }, state.error) : null);
}

/** @param {Hold} hold */
function openRelease(hold) {
  releasing.set(hold.id, { requisitionId: hold.requisition, reason: "", error: "", busy: false });
  show(items.get(hold.requisition));
  byId(`release-reason-${hold.id}`).focus();
}

/** @param {number} holdId */
function closeRelease(holdId) {
  const state = releasing.get(holdId);
  releasing.delete(holdId);
  show(items.get(state.requisitionId));
}


/** @param {number} holdId */
async function release(holdId) {
  const state = releasing.get(holdId);
  if (!state || state.busy) return;
  state.busy = true;
  state.error = "";
  show(items.get(state.requisitionId));
  try {
    const hold = await api(RELEASE.replace("/0/", `/${holdId}/`), { method: "POST", body: { reason: state.reason.trim() } });
    releasing.delete(holdId);
    const known = items.get(state.requisitionId);
    show({ ...known, holds: known.holds.map((x) => (x.id === hold.id ? { ...x, ...hold } : x)) });
    showNotice("");
  } catch (err) {
    state.busy = false;
    if (err.status === 409) { // released meanwhile, by someone else: show it as it is now
      releasing.delete(holdId);
      showNotice("Ce gel avait déjà été levé : la réquisition est rechargée.");
      refresh(state.requisitionId);
      return;
    }
    state.error = err.message;
    show(items.get(state.requisitionId));
  }
}

/** @param {Requisition} requisition */
function render(requisition) {
  const progress = h("progress", { max: 100, value: requisition.progress, class: "requisition-progress" });
  progress.setAttribute("aria-label", "Avancement de l'extraction");
  const actions = [];
  if (requisition.status === "pending" || requisition.status === "failed") {
    actions.push(h("button", { type: "button", class: "extract", on: { click: () => act(requisition, "extract") } },
      "Lancer l'extraction"));
  }
  if (requisition.status === "done" && !requisition.export_destroyed_at) {
    actions.push(h("button", { type: "button", class: "handover", on: { click: () => act(requisition, "handover", {}) } },
      "Remise effectuée"));
  }
  const handovers = requisition.handovers.map((x) => h("p", { class: "handover-done" },
    `Remise effectuée le ${when(x.at)} par ${x.by} : ${x.recipient}`));
  const holds = requisition.holds.filter((x) => !x.segment);
  return h("li", { class: "requisition", dataset: { id: String(requisition.id), status: requisition.status } },
    h("h3", {}, `Procédure ${requisition.procedure_number} — ${requisition.service}`),
    h("p", {}, `${requisition.officer} · ${requisition.legal_basis || "fondement non précisé"} · caméras `,
      requisition.cameras.map((/** @type {{code: string}} */ c) => c.code).join(", "),
      ` · du ${when(requisition.start)} au ${when(requisition.end)}`),
    holdLine(holds),
    ...holds.filter((x) => releasing.has(x.id) && !x.released_at).map(releaseForm),
    h("p", { class: "status" }, h("span", { class: "status-label" }, STATUS[requisition.status] || requisition.status),
      " ", progress, " ", h("span", { class: "percent" }, `${requisition.progress} %`)),
    requisition.error ? h("p", { class: "notice error" }, requisition.error) : null,
    fileLinks(requisition),
    ...handovers,
    h("p", { class: "actions" }, ...actions));
}

/**
 * Re-rendering (a progress event, a resync) must not take the focus and caret away from a
 * reason being typed: the field found again by its ``data-focus-key`` gets them back.
 * @param {() => void} rerender
 */
function keepingFocus(rerender) {
  const active = list.contains(document.activeElement) ? /** @type {HTMLInputElement} */ (document.activeElement) : null;
  const key = active && active.dataset.focusKey;
  const selection = key ? [active.selectionStart, active.selectionEnd] : null;
  rerender();
  /** @type {HTMLInputElement | null} */
  const again = key ? find(`[data-focus-key="${key}"]`, list) : null;
  if (again && again !== document.activeElement) {
    again.focus();
    again.setSelectionRange(selection[0], selection[1]);
  }
}

/** @param {Requisition} requisition */
function show(requisition) {
  items.set(requisition.id, requisition);
  const element = render(requisition);
  const previous = list.querySelector(`li[data-id="${requisition.id}"]`);
  keepingFocus(() => {
    if (previous) previous.replaceWith(element);
    else list.prepend(element);
  });
  empty.hidden = items.size > 0;
}

async function load() {
  try {
    /** @type {Requisition[]} */
    const all = await api(API);
    keepingFocus(() => {
      list.replaceChildren();
      items.clear();
      all.reverse().forEach(show);
    });
    empty.hidden = items.size > 0;
  } catch (err) {
    showNotice(err.message);
  }
}

/** @param {number} id */
async function refresh(id) {
  try {
    show(await api(`${API}${id}/`));
  } catch (err) {
    showNotice(err.message);
  }
}

/** @param {import("./lib/events.js").EventFrame} frame */
function onEvent(frame) {
  if (frame.type !== "requisition.progress") return;
  const data = frame.data.requisition;
  const known = items.get(data.id);
  if (!known) {
    refresh(data.id);
    return;
  }
  const finished = data.status === "done" && known.status !== "done";
  show({ ...known, status: data.status, progress: data.progress, error: data.error });
  if (finished || data.status === "failed") refresh(data.id); // the files and their hashes
}

/** @param {string} value what a datetime-local field holds */
function iso(value) {
  return value ? new Date(value).toISOString() : "";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  /** @param {string} name */
  const value = (name) => /** @type {HTMLInputElement} */ (form.elements.namedItem(name)).value.trim();
  const body = {
    officer: value("officer"),
    service: value("service"),
    procedure_number: value("procedure_number"),
    legal_basis: value("legal_basis"),
    cameras: /** @type {number[]} */ ([]),
    camera_codes: value("cameras").split(/[,;\s]+/).filter(Boolean),
    start: iso(value("start")),
    end: iso(value("end")),
  };
  try {
    const created = await api(API, { method: "POST", body });
    show(created);
    form.reset();
    showNotice("");
  } catch (err) {
    showNotice(err.message);
  }
});

load();
connectEvents({ onEvent, onResync: load, onStatus: connectionStatus(byId("connection")) });
