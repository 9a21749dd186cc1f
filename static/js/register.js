/*
 * /registre/ — the register of recordings, holds, extractions and destructions, and the
 * extraction statistics (docs/recordings.md, "Register and statistics"). The filters live in
 * the page's address (?camera=&kind=&since=&until=), so a filtered register can be bookmarked,
 * and the CSV link always carries the filters of what the tables show.
 */
import { describeError, h } from "./incident-ui.js";

const root = document.getElementById("register");
const API = root.dataset.api;
const STATS_API = root.dataset.statsApi;
const LIMIT = Number(root.dataset.limit) || Infinity;
const form = document.getElementById("register-filters");
const notice = document.getElementById("reg-notice");
const status = document.getElementById("reg-status");
const csv = document.getElementById("reg-csv");

const PARIS = "Europe/Paris";
const moment = new Intl.DateTimeFormat("fr-FR", { timeZone: PARIS, dateStyle: "short", timeStyle: "medium" });
const dayOnly = new Intl.DateTimeFormat("fr-FR", { dateStyle: "full", timeZone: "UTC" });
const monthOnly = new Intl.DateTimeFormat("fr-FR", { month: "long", year: "numeric", timeZone: "UTC" });
const number = new Intl.NumberFormat("fr-FR", { maximumFractionDigits: 1 });

// What a sweep destroyed (a destruction line's "object").
const OBJECTS = { recording: "enregistrements", snapshot: "capture d'image", extraction: "extraction" };

const dash = "—";

function when(iso) {
  if (!iso) return dash;
  return h("time", { dateTime: iso }, moment.format(new Date(iso)));
}

function period(start, end) {
  if (!start && !end) return dash;
  return h("span", {}, "du ", when(start), " au ", when(end));
}

function size(bytes) {
  if (bytes === undefined || bytes === null) return dash;
  const units = ["o", "ko", "Mo", "Go", "To"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return h("span", { title: `${bytes} octets` }, `${number.format(value)} ${units[unit]}`);
}

function text(value) {
  return value === undefined || value === null || value === "" ? dash : String(value);
}

function plural(count, one, many) {
  return `${count} ${count > 1 ? many : one}`;
}

function holdState(line) {
  if (line.status !== "released") return h("span", { class: "state in-force" }, "En vigueur");
  return h("span", { class: "state released" }, "Levé le ", when(line.released_at),
    line.detail ? ` (${line.detail})` : "");
}

const ROWS = {
  recordings: (line) => [
    line.day ? dayOnly.format(new Date(`${line.day}T00:00:00Z`)) : dash,
    text(line.camera), when(line.start), when(line.end), text(line.segments), size(line.size), text(line.gaps)],
  holds: (line) => [
    when(line.at), text(line.camera), text(line.procedure_number), text(line.service),
    period(line.start, line.end), text(line.segments), holdState(line)],
  extractions: (line) => [
    when(line.at), text(line.camera), text(line.procedure_number), text(line.service), text(line.detail),
    period(line.start, line.end),
    line.status === "destroyed" ? h("span", { class: "state released" }, "Détruits le ", when(line.destroyed_at))
      : h("span", { class: "state in-force" }, "Conservés")],
  destructions: (line) => [
    when(line.at), text(line.camera), line.object ? OBJECTS[line.object] || line.object : OBJECTS.recording,
    period(line.start, line.end), text(line.segments), size(line.size), text(line.procedure_number)],
};

function showNotice(message) {
  notice.textContent = message;
  notice.hidden = !message;
}

/** The filters of the form as the API takes them: "au" is inclusive on the page, ``until`` exclusive. */
function apiFilters() {
  const params = new URLSearchParams();
  const value = (name) => form.elements[name].value.trim();
  if (value("camera")) params.set("camera", value("camera"));
  if (value("kind")) params.set("kind", value("kind"));
  if (value("since")) params.set("since", value("since"));
  if (value("until")) {
    const next = new Date(`${value("until")}T00:00:00Z`);
    next.setUTCDate(next.getUTCDate() + 1);
    params.set("until", next.toISOString().slice(0, 10));
  }
  return params;
}

/** The filters as the page's address holds them (what the person typed). */
function pageFilters() {
  const params = new URLSearchParams();
  for (const name of ["camera", "kind", "since", "until"]) {
    const value = form.elements[name].value.trim();
    if (value) params.set(name, value);
  }
  return params;
}

class RegisterError extends Error {}


async function getJson(url) {
  let response;
  try {
    response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  } catch {
    throw new RegisterError("Serveur injoignable : vérifiez le réseau, puis recommencez.");
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new RegisterError(describeError(response.status, data));
  return data;
}

function fillKind(section, lines) {
  const kind = section.dataset.kind;
  section.hidden = lines === undefined;
  if (lines === undefined) return;
  section.querySelector(".count").textContent = `(${plural(lines.length, "ligne", "lignes")})`;
  section.querySelector(".empty").hidden = lines.length > 0;
  section.querySelector(".limit").hidden = lines.length < LIMIT;
  section.querySelector("table").hidden = lines.length === 0;
  section.querySelector("tbody").replaceChildren(...lines.map((line) => h("tr", {
    dataset: { kind: line.kind, camera: line.camera || "" },
  }, ...ROWS[kind](line).map((cell) => h("td", {}, cell)))));
}

function fillStats(stats) {
  const section = document.getElementById("reg-stats");
  document.getElementById("stats-total").textContent = `Total : ${plural(stats.total, "extraction", "extractions")}`;
  section.querySelector(".empty").hidden = stats.total > 0;
  section.querySelector(".stats-tables").hidden = stats.total === 0;
  document.querySelector("#stats-per-month tbody").replaceChildren(...stats.per_month.map((row) => h("tr", {},
    h("td", {}, h("time", { dateTime: row.month }, monthOnly.format(new Date(`${row.month}-01T00:00:00Z`)))),
    h("td", {}, String(row.extractions)),
    h("td", {}, Object.entries(row.per_service).map(([service, count]) => `${service} : ${count}`).join(" ; ")))));
  document.querySelector("#stats-per-service tbody").replaceChildren(...stats.per_service.map((row) => h("tr", {},
    h("td", {}, row.service || "(service non précisé)"), h("td", {}, String(row.extractions)))));
}

let generation = 0; // a slower answer to older filters never overwrites a newer one

async function load() {
  const mine = ++generation;
  const filters = apiFilters();
  const statsFilters = new URLSearchParams();
  for (const name of ["since", "until"]) if (filters.has(name)) statsFilters.set(name, filters.get(name));
  status.textContent = "Chargement…";
  try {
    const [register, stats] = await Promise.all([
      getJson(`${API}?${filters}`), getJson(`${STATS_API}?${statsFilters}`)]);
    if (mine !== generation) return;
    for (const section of document.querySelectorAll(".register-kind")) fillKind(section, register[section.dataset.kind]);
    fillStats(stats);
    document.getElementById("reg-stats").hidden = false;
    const exported = new URLSearchParams(filters);
    exported.set("export", "csv");
    csv.href = `${API}?${exported}`;
    csv.hidden = false;
    showNotice("");
    const total = Object.values(register).reduce((sum, lines) => sum + lines.length, 0);
    status.textContent = `${plural(total, "ligne", "lignes")} au registre pour ces filtres.`;
  } catch (err) {
    if (mine !== generation) return;
    // Nothing shown could be taken for the answer to the refused filters; the CSV would be refused too.
    for (const section of document.querySelectorAll(".register-kind, #reg-stats")) section.hidden = true;
    csv.hidden = true;
    status.textContent = "";
    showNotice(err instanceof RegisterError ? err.message : `Erreur : ${err.message}`);
  }
}

function readAddress() {
  const params = new URLSearchParams(window.location.search);
  for (const name of ["camera", "kind", "since", "until"]) {
    if (params.has(name)) form.elements[name].value = params.get(name);
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const query = pageFilters().toString();
  window.history.replaceState(null, "", query ? `?${query}` : window.location.pathname);
  load();
});

readAddress();
load();
