/*
 * The operator console (templates/console.html): "Incidents en cours", kept live.
 *
 * The list is a snapshot from GET /api/incidents/ merged with the events of
 * /ws/events/ (events.js). A snapshot may arrive after events that are newer
 * than it: an incident keeps the highest `version` it was seen with, and one
 * that a live event touched while the snapshot was in flight is not dropped.
 */
import { connectEvents } from "./events.js";

const root = document.getElementById("console");
const labels = JSON.parse(document.getElementById("console-labels").textContent);
const liveStatuses = new Set(root.dataset.liveStatuses.split(","));

const list = document.getElementById("incident-list");
const count = document.getElementById("incident-count");
const empty = document.getElementById("incidents-empty");
const listError = document.getElementById("incidents-error");
const connection = document.getElementById("connection");
const form = document.getElementById("incident-form");
const formMessage = document.getElementById("form-message");

const PARIS = "Europe/Paris";
const timeFormat = new Intl.DateTimeFormat("fr-FR", { timeZone: PARIS, hour: "2-digit", minute: "2-digit" });
const dayFormat = new Intl.DateTimeFormat("fr-FR", { timeZone: PARIS, day: "2-digit", month: "2-digit" });
const fullFormat = new Intl.DateTimeFormat("fr-FR", { timeZone: PARIS, dateStyle: "full", timeStyle: "medium" });

/** id → {incident, touched}: `touched` is the number of the live event that last changed it. */
const incidents = new Map();
let liveCount = 0;
let snapshotSeq = 0;

// --- Reading and writing the API.

function cookie(name) {
  const prefix = `${name}=`;
  const found = document.cookie.split("; ").find((part) => part.startsWith(prefix));
  return found ? decodeURIComponent(found.slice(prefix.length)) : "";
}

async function api(url, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    headers["X-CSRFToken"] = cookie("csrftoken");
  }
  const response = await fetch(url, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error(describeError(response.status, data));
    error.status = response.status;
    throw error;
  }
  return data;
}

const FIELD_LABELS = {
  nature: "Nature",
  priority: "Priorité",
  description: "Description",
  address: "Adresse",
  location: "Position",
};

function describeError(status, data) {
  if (status === 401 || status === 403) {
    return "Session expirée ou droits insuffisants : rechargez la page pour vous reconnecter.";
  }
  const detail = data && data.detail;
  if (detail && typeof detail === "object") {
    return Object.entries(detail)
      .map(([field, messages]) => `${FIELD_LABELS[field] || field} : ${[].concat(messages).join(" ")}`)
      .join(" ; ");
  }
  return detail ? String(detail) : `Erreur ${status}.`;
}

// --- The list.

function isLive(incident) {
  return liveStatuses.has(incident.status);
}

function upsert(incident, touched) {
  const known = incidents.get(incident.id);
  if (known && known.incident.version > incident.version) return; // an older picture
  incidents.set(incident.id, { incident, touched });
}

async function loadSnapshot() {
  const seq = ++snapshotSeq;
  const startedAt = liveCount;
  let items;
  try {
    items = await api(root.dataset.incidentsUrl);
  } catch (err) {
    if (seq === snapshotSeq) showListError(`Liste indisponible. ${err.message}`);
    return;
  }
  if (seq !== snapshotSeq) return; // a newer snapshot was asked for meanwhile
  showListError("");
  const previous = new Map(incidents);
  incidents.clear();
  for (const incident of items) incidents.set(incident.id, { incident, touched: 0 });
  for (const entry of previous.values()) {
    // What a live event told us after the request left is at least as fresh as the snapshot.
    if (entry.touched > startedAt) upsert(entry.incident, entry.touched);
  }
  render();
}

function onEvent(frame) {
  const data = frame.data || {};
  switch (frame.type) {
    case "incident.created":
    case "incident.updated":
    case "incident.shared":
      liveCount += 1;
      upsert(data.incident, liveCount);
      render(frame.type === "incident.created" ? data.incident.id : null);
      break;
    case "incident.unshared": {
      const entry = incidents.get(data.incident_id);
      if (entry) {
        const shared = entry.incident.shared_with.filter((code) => code !== data.agency);
        entry.incident = { ...entry.incident, shared_with: shared };
        render();
      }
      break;
    }
    default:
      break; // journal entries, radio, cameras…: not on this list
  }
}

function render(freshId = null) {
  const shown = [...incidents.values()]
    .map((entry) => entry.incident)
    .filter(isLive)
    // Not a string comparison: REST gives local offsets (+01:00), events give UTC (+00:00).
    .sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at) || b.id - a.id);
  const rows = shown.map((incident) => row(incident, incident.id === freshId));
  list.replaceChildren(...rows);
  const ids = new Set(shown.map((incident) => incident.id));
  for (const id of rowCache.keys()) if (!ids.has(id)) rowCache.delete(id);
  count.textContent = shown.length ? `(${shown.length})` : "";
  empty.hidden = shown.length > 0;
  empty.textContent = "Aucun incident en cours.";
}

const rowCache = new Map(); // id → {version, element}: unchanged rows are kept as they are

function row(incident, fresh) {
  const cached = rowCache.get(incident.id);
  const key = `${incident.version}|${incident.status}|${incident.shared_with.join(",")}`;
  if (cached && cached.key === key) return cached.element;
  const tr = document.createElement("tr");
  tr.dataset.id = String(incident.id);
  tr.dataset.reference = incident.reference;
  tr.className = `priority-${incident.priority}`;
  if (fresh) {
    // Highlighted once: a row moved by a later render must not flash again.
    tr.classList.add("fresh");
    tr.addEventListener("animationend", () => tr.classList.remove("fresh"), { once: true });
  }

  const when = new Date(incident.created_at);
  const time = document.createElement("time");
  time.dateTime = incident.created_at;
  time.title = fullFormat.format(when);
  time.textContent = sameParisDay(when, new Date())
    ? timeFormat.format(when)
    : `${dayFormat.format(when)} ${timeFormat.format(when)}`;

  const reference = document.createElement("span");
  reference.className = "reference";
  reference.textContent = incident.reference;

  const nature = document.createElement("span");
  nature.textContent = incident.nature_label;
  if (incident.description) nature.title = incident.description;

  const priority = document.createElement("span");
  priority.className = `badge priority-${incident.priority}`;
  priority.textContent = labels.priority[String(incident.priority)] || String(incident.priority);

  const status = document.createElement("span");
  status.className = `status status-${incident.status}`;
  status.textContent = labels.status[incident.status] || incident.status;
  if (incident.shared_with.length) {
    const shared = document.createElement("small");
    shared.className = "shared";
    shared.textContent = `partagé : ${incident.shared_with.join(", ")}`;
    status.append(" ", shared);
  }

  for (const content of [time, reference, nature, incident.commune_name, priority, status]) {
    const td = document.createElement("td");
    td.append(content);
    tr.append(td);
  }
  rowCache.set(incident.id, { key, element: tr });
  return tr;
}

function sameParisDay(a, b) {
  return dayFormat.format(a) === dayFormat.format(b);
}

function showListError(message) {
  listError.textContent = message;
  listError.hidden = !message;
}

// --- The creation form.

async function loadNatures() {
  const select = form.elements.nature;
  try {
    const natures = await api(root.dataset.naturesUrl);
    const options = natures.map(({ code, label }) => new Option(label, code));
    select.replaceChildren(new Option("— choisir —", ""), ...options);
  } catch (err) {
    select.replaceChildren(new Option("Nomenclature indisponible", ""));
    formMessage.textContent = err.message;
  }
}

async function submit(event) {
  event.preventDefault();
  if (!form.reportValidity()) return;
  const button = form.querySelector("button[type=submit]");
  const fields = form.elements;
  const body = {
    nature: fields.nature.value,
    priority: Number(fields.priority.value),
    description: fields.description.value.trim(),
    address: fields.address.value.trim(),
    location: { type: "Point", coordinates: [Number(fields.lon.value), Number(fields.lat.value)] },
  };
  button.disabled = true;
  formMessage.className = "form-message";
  formMessage.textContent = "Création…";
  try {
    const incident = await api(root.dataset.createUrl, { method: "POST", body });
    // Shown at once, even if the event stream is down; the event, when it comes, is the same.
    liveCount += 1;
    upsert(incident, liveCount);
    render(incident.id);
    formMessage.textContent = `Incident ${incident.reference} créé.`;
    formMessage.classList.add("ok");
    fields.description.value = "";
    fields.address.value = "";
  } catch (err) {
    formMessage.textContent = `Création refusée. ${err.message}`;
    formMessage.classList.add("error");
  } finally {
    button.disabled = false;
  }
}

// --- Start.

form.addEventListener("submit", submit);
loadNatures();
loadSnapshot();
connectEvents({
  onEvent,
  onResync: loadSnapshot,
  onStatus(label, state) {
    connection.textContent = label;
    connection.dataset.state = state;
  },
});
