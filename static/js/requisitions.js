/*
 * /requisitions/ — judicial requisitions (docs/recordings.md): record one (the covered
 * recordings are held at once), start its extraction, follow it live (requisition.progress
 * events), download the MP4s and the signed manifest, record the hand-over.
 */
import { connectEvents } from "./events.js";
import { api, connectionStatus, h } from "./incident-ui.js";

const root = document.getElementById("requisitions");
const API = root.dataset.api;
const form = document.getElementById("requisition-form");
const notice = document.getElementById("req-notice");
const list = document.getElementById("requisition-list");
const empty = document.getElementById("req-empty");
const items = new Map(); // id -> requisition

const STATUS = {
  pending: "En attente d'extraction",
  running: "Extraction en cours",
  done: "Extraction terminée",
  failed: "Échec de l'extraction",
};
const KINDS = { manifest: "Manifeste signé", signature: "Signature du manifeste", public_key: "Clé publique du centre" };

function when(iso) {
  return new Date(iso).toLocaleString("fr-FR", { timeZone: "Europe/Paris" });
}

function showNotice(text) {
  notice.textContent = text;
  notice.hidden = !text;
}

function fileLinks(requisition) {
  if (requisition.status !== "done" || !requisition.files.length) return null;
  return h("ul", { class: "requisition-files" }, ...requisition.files.map((file) => h("li", {},
    h("a", { href: file.url, download: file.name, class: `file-${file.kind}`, dataset: { name: file.name } },
      file.kind === "video" ? `Vidéo ${file.camera} (${file.name})` : `${KINDS[file.kind] || file.name} (${file.name})`),
    " ", h("code", { class: "sha256", title: "SHA-256" }, file.sha256))));
}

async function act(requisition, path, body) {
  try {
    const updated = await api(`${API}${requisition.id}/${path}/`, { method: "POST", body });
    show(updated);
    showNotice("");
  } catch (err) {
    showNotice(err.message);
  }
}

function render(requisition) {
  const progress = h("progress", { max: 100, value: requisition.progress, class: "requisition-progress" });
  progress.setAttribute("aria-label", "Avancement de l'extraction");
  const actions = [];
  if (requisition.status === "pending" || requisition.status === "failed") {
    actions.push(h("button", { type: "button", class: "extract", on: { click: () => act(requisition, "extract") } },
      "Lancer l'extraction"));
  }
  if (requisition.status === "done") {
    actions.push(h("button", { type: "button", class: "handover", on: { click: () => act(requisition, "handover", {}) } },
      "Remise effectuée"));
  }
  const handovers = requisition.handovers.map((x) => h("p", { class: "handover-done" },
    `Remise effectuée le ${when(x.at)} par ${x.by} : ${x.recipient}`));
  const holds = requisition.holds.filter((x) => !x.segment);
  return h("li", { class: "requisition", dataset: { id: requisition.id, status: requisition.status } },
    h("h3", {}, `Procédure ${requisition.procedure_number} — ${requisition.service}`),
    h("p", {}, `${requisition.officer} · ${requisition.legal_basis || "fondement non précisé"} · caméras `,
      requisition.cameras.map((c) => c.code).join(", "),
      ` · du ${when(requisition.start)} au ${when(requisition.end)}`),
    h("p", { class: "holds" }, holds.map((x) => x.released_at
      ? `Gel ${x.camera_code} levé (${x.release_reason})` : `Gel ${x.camera_code} en vigueur`).join(" · ")),
    h("p", { class: "status" }, h("span", { class: "status-label" }, STATUS[requisition.status] || requisition.status),
      " ", progress, " ", h("span", { class: "percent" }, `${requisition.progress} %`)),
    requisition.error ? h("p", { class: "notice error" }, requisition.error) : null,
    fileLinks(requisition),
    ...handovers,
    h("p", { class: "actions" }, ...actions));
}

function show(requisition) {
  items.set(requisition.id, requisition);
  const element = render(requisition);
  const previous = list.querySelector(`li[data-id="${requisition.id}"]`);
  if (previous) previous.replaceWith(element);
  else list.prepend(element);
  empty.hidden = items.size > 0;
}

async function load() {
  try {
    const all = await api(API);
    list.replaceChildren();
    items.clear();
    all.reverse().forEach(show);
    empty.hidden = items.size > 0;
  } catch (err) {
    showNotice(err.message);
  }
}

async function refresh(id) {
  try {
    show(await api(`${API}${id}/`));
  } catch (err) {
    showNotice(err.message);
  }
}

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

function iso(value) {
  return value ? new Date(value).toISOString() : "";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const value = (name) => form.elements[name].value.trim();
  const body = {
    officer: value("officer"),
    service: value("service"),
    procedure_number: value("procedure_number"),
    legal_basis: value("legal_basis"),
    cameras: [],
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
connectEvents({ onEvent, onResync: load, onStatus: connectionStatus(document.getElementById("connection")) });
