// @ts-check
/*
 * /registre/ — the register of recordings, holds, extractions and destructions, and the
 * extraction statistics (docs/recordings.md, "Register and statistics"). The filters live in
 * the page's address (?camera=&kind=&since=&until=), so a filtered register can be bookmarked,
 * and the CSV link always carries the filters of what the tables show.
 */
import { PARIS, byId, find, findAll, h, readJson } from "./lib/dom.js";
import { ApiError, api } from "./lib/http.js";

/**
 * A line of the register (GET /api/streaming/register/): the fields its kind has.
 * @typedef {{[field: string]: any, kind: string, camera?: string | null}} Line
 */
/** @typedef {"recordings" | "holds" | "extractions" | "destructions"} Kind */

const root = byId("register");
const API = root.dataset.api;
const STATS_API = root.dataset.statsApi;
const LIMIT = Number(root.dataset.limit) || Infinity;
/** @type {HTMLFormElement} */
const form = byId("register-filters");
const notice = byId("reg-notice");
const status = byId("reg-status");
/** @type {HTMLAnchorElement} */
const csv = byId("reg-csv");
/** @param {string} name */
const field = (name) => /** @type {HTMLInputElement} */ (form.elements.namedItem(name));

const moment = new Intl.DateTimeFormat("fr-FR", { timeZone: PARIS, dateStyle: "short", timeStyle: "medium" });
const dayOnly = new Intl.DateTimeFormat("fr-FR", { dateStyle: "full", timeZone: "UTC" });
const monthOnly = new Intl.DateTimeFormat("fr-FR", { month: "long", year: "numeric", timeZone: "UTC" });
const number = new Intl.NumberFormat("fr-FR", { maximumFractionDigits: 1 });

/**
 * The words of the register's object codes, written by the template in French (json_script
 * "page-labels"): the browser translates no code itself.
 * @type {Record<string, string>}
 */
const OBJECTS = (readJson("page-labels") || { object: {} }).object;

const dash = "—";

/** @param {string | null | undefined} iso */
function when(iso) {
  if (!iso) return dash;
  return h("time", { dateTime: iso }, moment.format(new Date(iso)));
}

/**
 * @param {string | null | undefined} start
 * @param {string | null | undefined} end
 */
function period(start, end) {
  if (!start && !end) return dash;
  return h("span", {}, "du ", when(start), " au ", when(end));
}

/** @param {number | null | undefined} bytes */
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

/** @param {unknown} value */
function text(value) {
  return value === undefined || value === null || value === "" ? dash : String(value);
}

/**
 * @param {number} count
 * @param {string} one
 * @param {string} many
 */
function plural(count, one, many) {
  return `${count} ${count > 1 ? many : one}`;
}

/** @param {Line} line */
function holdState(line) {
  if (line.status !== "released") return h("span", { class: "state in-force" }, "En vigueur");
  return h("span", { class: "state released" }, "Levé le ", when(line.released_at),
    line.detail ? ` (${line.detail})` : "");
}

/** @type {Record<Kind, (line: Line) => Array<Node | string>>} */
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

/** @param {string} message */
function showNotice(message) {
  notice.textContent = message;
  notice.hidden = !message;
}

/** The filters of the form as the API takes them: "au" is inclusive on the page, ``until`` exclusive. */
function apiFilters() {
  const params = new URLSearchParams();
  /** @param {string} name */
  const value = (name) => field(name).value.trim();
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
    const value = field(name).value.trim();
    if (value) params.set(name, value);
  }
  return params;
}

/**
 * @param {HTMLElement} section
 * @param {Line[] | undefined} lines
 */
function fillKind(section, lines) {
  const kind = /** @type {Kind} */ (section.dataset.kind);
  section.hidden = lines === undefined;
  if (lines === undefined) return;
  find(".count", section).textContent = `(${plural(lines.length, "ligne", "lignes")})`;
  find(".empty", section).hidden = lines.length > 0;
  find(".limit", section).hidden = lines.length < LIMIT;
  find("table", section).hidden = lines.length === 0;
  find("tbody", section).replaceChildren(...lines.map((line) => h("tr", {
    dataset: { kind: line.kind, camera: line.camera || "" },
  }, ...ROWS[kind](line).map((cell) => h("td", {}, cell)))));
}

/**
 * @param {{total: number, per_month: Array<{month: string, extractions: number, per_service: Record<string, number>}>,
 *   per_service: Array<{service: string | null, extractions: number}>}} stats
 */
function fillStats(stats) {
  const section = byId("reg-stats");
  byId("stats-total").textContent = `Total : ${plural(stats.total, "extraction", "extractions")}`;
  find(".empty", section).hidden = stats.total > 0;
  find(".stats-tables", section).hidden = stats.total === 0;
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
    /** @type {[Partial<Record<Kind, Line[]>>, Parameters<typeof fillStats>[0]]} */
    const [register, stats] = await Promise.all([
      api(`${API}?${filters}`), api(`${STATS_API}?${statsFilters}`)]);
    if (mine !== generation) return;
    for (const section of findAll(".register-kind")) fillKind(section, register[/** @type {Kind} */ (section.dataset.kind)]);
    fillStats(stats);
    byId("reg-stats").hidden = false;
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
    for (const section of findAll(".register-kind, #reg-stats")) section.hidden = true;
    csv.hidden = true;
    status.textContent = "";
    showNotice(err instanceof ApiError ? err.message : `Erreur : ${err.message}`);
  }
}

function readAddress() {
  const params = new URLSearchParams(window.location.search);
  for (const name of ["camera", "kind", "since", "until"]) {
    if (params.has(name)) field(name).value = params.get(name);
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
