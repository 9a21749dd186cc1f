// @ts-check
/*
 * Renvoi d'images and the video wall, from the operator console's incident panel
 * (console.js mounts it below the incident's cameras).
 *
 *   const video = grantsPanel({ urls, agencies, onFacts });
 *   panelSection = video.open(incidentId);   // the section to put in the panel
 *   video.update(detail);                     // the incident as the API gives it
 *   video.recorded(cameraId);                 // true / false / null (not known yet)
 *   video.onEvent(frame); video.reload(); video.close();
 *
 * The REST API is the source (GET /api/streaming/grants/?incident=, the cameras' facts,
 * the walls); /ws/events/ keeps it live: grant.created / grant.revoked / grant.ended /
 * grant.viewers for the incident's grants, wall.updated for the wall, incident.* for the
 * services the incident is shared with. What another operator does shows here at once.
 * Refusals are the hub's own French messages, shown as they come.
 */
import { PARIS, find, findAll, h, timeElement } from "./lib/dom.js";
import { api } from "./lib/http.js";

const clock = new Intl.DateTimeFormat("fr-FR", { timeZone: PARIS, hour: "2-digit", minute: "2-digit" });
const dayFormat = new Intl.DateTimeFormat("fr-FR", { timeZone: PARIS, day: "2-digit", month: "2-digit", year: "numeric" });
/** @type {Record<string, string>} why a renvoi ended, as the panel says it */
const END_LABELS = {
  revoked: "arrêté",
  expired: "échu",
  incident_closed: "incident terminé",
  unshared: "incident plus partagé",
};
const FINAL = new Set(["closed", "cancelled"]);

/**
 * A renvoi d'images as the REST API gives it (GET /api/streaming/grants/).
 * @typedef {{[field: string]: any, id: number, camera: number, camera_code: string, agency: string,
 *   agency_name: string, incident: number, expires_at: string, active: boolean}} Grant
 */

/** @typedef {{position: number, camera_id: number, camera_code?: string}} WallTile */

/**
 * The elements of the open section, and what each shows now (rebuilt only when it changed).
 * @typedef {{list: HTMLElement, none: HTMLElement, ended: HTMLDetailsElement, message: HTMLElement,
 *   grantForm: HTMLFormElement, wallForm: HTMLFormElement, count: HTMLElement, formKey: string,
 *   wallKey: string, listKey?: string}} Parts
 */

/**
 * @param {object} options
 * @param {{grants: string, facts: string, walls: string, wall: string, wallPage: string}} options.urls
 * @param {Array<{code: string, name: string, kind: string, video: boolean}>} options.agencies
 * @param {() => void} [options.onFacts] the cameras' facts came (recorded or not…)
 */
export function grantsPanel({ urls, agencies, onFacts = () => {} }) {
  const agencyByCode = new Map(agencies.map((agency) => [agency.code, agency]));
  /** @type {number | null} */
  let incidentId = null;
  /** @type {import("./lib/incidents.js").Incident & {cameras?: number[],
   *   suggested_cameras?: Array<{camera_id: number}>} | null} */
  let detail = null;
  /** @type {HTMLElement | null} */
  let section = null;
  /** @type {Parts | null} */
  let parts = null;
  let factsKey = "";
  /** @type {Map<number, any>} camera id → facts */
  let facts = new Map();
  let limits = { grant_default_minutes: 30, grant_max_minutes: 240 };
  /** @type {Map<number, Grant>} grant id → grant (API shape) */
  let grants = new Map();
  /** @type {any} the main wall's layout */
  let wall = null;
  let clockSkew = 0; // server time minus ours, from the Date of the hub's answers
  /** @type {number | undefined} */
  let ticker;
  let loadSeq = 0;

  const now = () => Date.now() + clockSkew;

  /**
   * The hub's answer; its clock is read from the Date of every answer (grants end on its time).
   * @param {string} url
   * @param {{method?: string, body?: unknown}} [options]
   */
  function call(url, { method = "GET", body } = {}) {
    return api(url, { method, body, onResponse: (response) => {
      const date = Date.parse(response.headers.get("Date") || "");
      if (Number.isFinite(date)) clockSkew = date - Date.now();
    } });
  }

  /** @param {string} code */
  function agencyName(code) {
    const agency = agencyByCode.get(code);
    return agency ? agency.name : code;
  }

  /** @param {number} id */
  function cameraLabel(id) {
    const known = facts.get(id);
    return known ? known.code : `caméra ${id}`;
  }

  // --- Loading.

  /** @param {number[]} ids */
  async function loadFacts(ids) {
    const key = ids.join(",");
    if (key === factsKey) return;
    factsKey = key;
    if (!ids.length) {
      facts = new Map();
      onFacts();
      return;
    }
    try {
      const answer = await call(`${urls.facts}?ids=${ids.join(",")}`);
      if (factsKey !== key) return;
      limits = answer;
      facts = new Map(answer.cameras.map((/** @type {{id: number}} */ camera) => [camera.id, camera]));
      onFacts();
      renderForms();
      renderGrants();
    } catch (err) {
      factsKey = "";
      say(`Caméras : ${err.message}`, "error");
    }
  }

  async function loadGrants() {
    if (incidentId === null) return;
    const id = incidentId;
    const seq = ++loadSeq;
    try {
      const list = await call(`${urls.grants}?incident=${id}`);
      if (id !== incidentId || seq !== loadSeq) return;
      grants = new Map(list.map((/** @type {Grant} */ grant) => [grant.id, grant]));
      renderGrants();
    } catch (err) {
      say(`Renvois d'images : ${err.message}`, "error");
    }
  }

  async function loadWall() {
    try {
      wall = await call(urls.wall);
      renderWallForm();
    } catch (err) {
      say(`Mur d'images : ${err.message}`, "error");
    }
  }

  // --- The section.

  /** @param {string} text @param {string} [kind] "ok" | "error" | "" */
  function say(text, kind = "") {
    if (!parts) return;
    parts.message.textContent = text;
    parts.message.className = `form-message${kind ? ` ${kind}` : ""}`;
  }

  /**
   * The section of the incident's panel, for the incident `id`.
   * @param {number} id
   */
  function open(id) {
    close();
    incidentId = id;
    grants = new Map();
    const list = h("ul", { class: "grant-list", "aria-label": "Renvois d'images en cours" });
    const none = h("p", { class: "muted grant-none", text: "Aucun renvoi d'images en cours." });
    const ended = h("details", { class: "grants-ended", hidden: true });
    const message = h("p", { class: "form-message", role: "status", "aria-live": "polite" });
    const grantForm = h("form", { class: "grant-form", "aria-labelledby": "grant-form-title" });
    const wallForm = h("form", { class: "wall-send", "aria-labelledby": "wall-title" });
    const count = h("span", { class: "count" });
    section = h("section", { class: "panel-section grants-section", "aria-labelledby": "grants-title" },
      h("h3", { id: "grants-title" }, "Renvoi d'images", count),
      list, none, message, grantForm, ended,
      h("h3", { id: "wall-title", class: "wall-title" }, "Mur d'images"),
      wallForm);
    parts = { list, none, ended, message, grantForm, wallForm, count, formKey: "", wallKey: "" };
    ticker = window.setInterval(tick, 1000);
    loadGrants();
    if (wall === null) loadWall();
    else renderWallForm();
    return section;
  }

  function close() {
    window.clearInterval(ticker);
    ticker = null;
    incidentId = null;
    detail = null;
    section = null;
    parts = null;
    grants = new Map();
  }

  /**
   * The incident as the API gives it (its cameras, status, sharing).
   * @param {NonNullable<typeof detail>} next
   */
  function update(next) {
    if (!parts || next.id !== incidentId) return;
    detail = next;
    const ids = [...new Set([...(next.cameras || []),
      ...(next.suggested_cameras || []).map((camera) => camera.camera_id)])];
    loadFacts(ids);
    renderForms();
  }

  /** The cameras of the incident: the associated ones first, then the suggested ones. */
  function incidentCameras() {
    if (!detail) return [];
    const attached = new Set(detail.cameras || []);
    const ordered = [...attached, ...(detail.suggested_cameras || []).map((c) => c.camera_id).filter((id) => !attached.has(id))];
    return ordered.map((id) => ({ id, attached: attached.has(id), facts: facts.get(id) || null }));
  }

  function videoAgencies() {
    return (detail ? detail.shared_with || [] : []).map((code) => agencyByCode.get(code))
      .filter((agency) => agency && agency.video);
  }

  function renderForms() {
    renderGrantForm();
    renderWallForm();
  }

  function renderGrantForm() {
    if (!parts || !detail) return;
    const cameras = incidentCameras();
    const shared = videoAgencies();
    const key = JSON.stringify([factsKey, facts.size, detail.status, shared.map((a) => a.code)]);
    if (parts.formKey === key) return;
    parts.formKey = key;
    const form = parts.grantForm;
    if (FINAL.has(detail.status)) {
      form.replaceChildren(h("p", { class: "muted", text: "Incident terminé : plus de renvoi d'images." }));
      return;
    }
    if (!cameras.length) {
      form.replaceChildren(h("p", { class: "muted", text: "Aucune caméra à renvoyer : associez une caméra ou choisissez un point couvert." }));
      return;
    }
    if (!shared.length) {
      form.replaceChildren(h("p", { class: "hint grant-hint", id: "grant-form-title",
        text: "Pour renvoyer des images, partagez d'abord l'incident avec un service de police, de gendarmerie ou de secours (section « Partage »). La Croix-Rouge ne reçoit jamais d'images." }));
      return;
    }
    const cameraSelect = h("select", { id: "grant-camera", name: "camera", required: true },
      cameras.map(({ id, attached, facts: known }) => h("option", {
        value: String(id),
        disabled: known ? !known.authorised : false,
        text: `${known ? known.code : `Caméra ${id}`}${attached ? " (associée)" : ""}${known && !known.authorised ? " — non autorisée" : ""}`,
      })));
    const firstUsable = cameras.find(({ facts: known }) => !known || known.authorised);
    if (firstUsable) cameraSelect.value = String(firstUsable.id);
    // Radio buttons, not a list: service names are long and the drawer is narrow.
    const agencyBox = h("div", { class: "grant-agencies", role: "radiogroup", "aria-labelledby": "grant-agency-label" });
    const chosenAgency = () => {
      /** @type {HTMLInputElement | null} */
      const checked = agencyBox.querySelector("input:checked");
      return checked ? checked.value : "";
    };
    const minutes = h("input", { id: "grant-minutes", name: "minutes", type: "number", min: "1",
      max: String(limits.grant_max_minutes), step: "1", required: true, value: String(limits.grant_default_minutes) });
    const reason = h("input", { id: "grant-reason", name: "reason", type: "text", maxlength: "500", required: true,
      placeholder: "Ex. : suivi des individus", autocomplete: "off" });
    const until = h("p", { class: "hint grant-until", "aria-live": "polite" });
    const submit = h("button", { type: "submit", class: "primary compact", text: "Renvoyer les images" });

    const fillAgencies = () => {
      const known = facts.get(Number(cameraSelect.value));
      const ends = known ? known.authorisation_ends : {};
      const previous = chosenAgency();
      const usable = shared.find((agency) => agency.code === previous && (!known || ends[agency.kind]))
        || shared.find((agency) => !known || ends[agency.kind]);
      agencyBox.replaceChildren(...shared.map((agency) => {
        const allowed = !known || Boolean(ends[agency.kind]);
        const id = `grant-agency-${agency.code}`;
        const radio = h("input", { type: "radio", name: "grant-agency", id, value: agency.code, required: true,
          disabled: !allowed, checked: Boolean(usable && usable.code === agency.code) });
        radio.addEventListener("change", fillAgencies);
        return h("label", { for: id, class: `grant-agency-choice${allowed ? "" : " not-allowed"}` }, radio,
          h("span", { text: agency.name }),
          allowed ? null : h("small", { text: " — non destinataire de cette caméra" }));
      }));
      const agency = agencyByCode.get(chosenAgency());
      const end = agency && ends[agency.kind];
      // The last day the authorisation covers (it ends at the following midnight).
      until.textContent = `${limits.grant_max_minutes} minutes au plus.${end
        ? ` Autorisation préfectorale jusqu'au ${dayFormat.format(new Date(Date.parse(end) - 1000))} inclus.` : ""}`;
    };
    cameraSelect.addEventListener("change", fillAgencies);
    fillAgencies();

    form.replaceChildren(
      h("h4", { id: "grant-form-title", class: "sub-title", text: "Renvoyer les images d'une caméra" }),
      h("div", { class: "grant-fields" },
        h("label", { for: "grant-camera", text: "Caméra" }), cameraSelect,
        h("span", { id: "grant-agency-label", class: "field-label", text: "Service destinataire" }), agencyBox,
        h("div", { class: "pair" },
          h("div", {}, h("label", { for: "grant-minutes", text: "Durée (minutes)" }), minutes),
          h("div", {}, h("label", { for: "grant-reason", text: "Motif" }), reason))),
      until,
      h("div", { class: "form-row" }, submit));
    form.onsubmit = async (event) => {
      event.preventDefault();
      if (!form.reportValidity()) return;
      submit.disabled = true;
      say("Renvoi en cours…");
      const id = incidentId;
      try {
        const made = await call(urls.grants, { method: "POST", body: {
          camera: Number(cameraSelect.value), agency: chosenAgency(), incident: id,
          minutes: Number(minutes.value), reason: reason.value.trim(),
        } });
        if (id !== incidentId) return;
        upsert(made);
        reason.value = "";
        say(`Images de ${made.camera_code} renvoyées à ${made.agency_name} jusqu'à ${clock.format(new Date(made.expires_at))}.`, "ok");
      } catch (err) {
        say(`Renvoi refusé : ${err.message}`, "error");
      } finally {
        submit.disabled = false;
      }
    };
  }

  // --- The grants of the incident.

  /** @param {Grant} grant */
  function upsert(grant) {
    if (grant.incident !== incidentId) return;
    const known = grants.get(grant.id);
    grants.set(grant.id, { ...(known || {}), ...grant, viewers: grant.viewers || (known ? known.viewers : []) });
    renderGrants();
  }

  /** A grant from an event (grant.*: the event's shape) merged into what we hold. */
  /**
   * A grant as the REST API gives it, from an event's shape.
   * @param {{[field: string]: any}} data
   * @returns {Grant}
   */
  function fromEvent(data) {
    return {
      id: data.id, camera: data.camera_id, camera_code: data.camera_code, camera_name: data.camera_name,
      agency: data.agency, agency_name: agencyName(data.agency), incident: data.incident_id,
      incident_reference: data.incident_reference, reason: data.reason, granted_by: data.granted_by,
      created_at: data.created_at, expires_at: data.expires_at, revoked_at: data.revoked_at,
      revoke_reason: data.revoke_reason, active: data.ended_at === null, ended_at: data.ended_at,
      end_reason: data.end_reason,
    };
  }

  /** @param {Grant} grant */
  function remaining(grant) {
    return Date.parse(grant.expires_at) - now();
  }

  /** @param {number} ms */
  function countdownText(ms) {
    if (ms <= 0) return "échu";
    const total = Math.floor(ms / 1000);
    const hours = Math.floor(total / 3600);
    const minutes = Math.floor((total % 3600) / 60);
    const seconds = String(total % 60).padStart(2, "0");
    return hours ? `expire dans ${hours} h ${String(minutes).padStart(2, "0")} min` : `expire dans ${minutes}:${seconds}`;
  }

  function tick() {
    if (!parts) return;
    for (const element of findAll("[data-expires]", parts.list)) {
      const ms = Date.parse(element.dataset.expires) - now();
      element.textContent = countdownText(ms);
      element.classList.toggle("soon", ms < 5 * 60 * 1000);
    }
  }

  /** @param {Grant} grant */
  function viewersNode(grant) {
    const viewers = grant.viewers || [];
    if (!viewers.length) return h("span", { class: "grant-viewers none", text: "personne ne regarde" });
    const names = viewers.map((/** @type {{name: string}} */ viewer) => viewer.name).join(", ");
    return h("span", { class: "grant-viewers", title: names },
      h("strong", { text: `${viewers.length} ${viewers.length > 1 ? "regardent" : "regarde"}` }), ` : ${names}`);
  }

  /** @param {Grant} grant */
  function grantItem(grant) {
    const confirmBox = h("div", { class: "confirm grant-revoke", hidden: true });
    const extendMinutes = () => Math.min(limits.grant_max_minutes,
      Math.ceil(Math.max(0, remaining(grant)) / 60000) + limits.grant_default_minutes);
    const extend = h("button", { type: "button", class: "secondary compact", text: `+${limits.grant_default_minutes} min`,
      "aria-label": `Prolonger de ${limits.grant_default_minutes} minutes le renvoi de ${grant.camera_code} à ${grant.agency_name}`,
      on: { click: async (event) => {
        const button = /** @type {HTMLButtonElement} */ (event.currentTarget);
        button.disabled = true;
        try {
          const answer = await call(`${urls.grants}${grant.id}/extend/`, { method: "POST", body: { minutes: extendMinutes() } });
          upsert(answer);
          say(`Renvoi de ${answer.camera_code} à ${answer.agency_name} prolongé jusqu'à ${clock.format(new Date(answer.expires_at))}.`, "ok");
        } catch (err) {
          say(`Prolongation refusée : ${err.message}`, "error");
        } finally {
          button.disabled = false;
        }
      } } });
    const reasonId = `revoke-reason-${grant.id}`;
    const revokeReason = h("input", { type: "text", id: reasonId, maxlength: "500", required: true,
      placeholder: "Ex. : fin de l'intervention" });
    const revoke = h("button", { type: "button", class: "danger-outline compact", text: "Mettre fin",
      "aria-label": `Mettre fin au renvoi de ${grant.camera_code} à ${grant.agency_name}`,
      on: { click: () => {
        confirmBox.hidden = false;
        revokeReason.focus();
      } } });
    const confirmButton = h("button", { type: "submit", class: "danger-strong compact", text: "Confirmer la fin du renvoi" });
    const revokeForm = h("form", { class: "grant-revoke-form" },
      h("label", { for: reasonId, text: `Motif de la fin du renvoi (transmis à ${grant.agency_name})` }),
      revokeReason,
      h("div", { class: "form-row" }, confirmButton,
        h("button", { type: "button", class: "secondary compact", text: "Ne rien changer",
          on: { click: () => { confirmBox.hidden = true; } } })));
    revokeForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!revokeForm.reportValidity()) return;
      confirmButton.disabled = true;
      try {
        const answer = await call(`${urls.grants}${grant.id}/revoke/`, { method: "POST", body: { reason: revokeReason.value.trim() } });
        upsert(answer);
        say(`Renvoi de ${answer.camera_code} à ${answer.agency_name} arrêté.`, "ok");
      } catch (err) {
        say(`Fin du renvoi refusée : ${err.message}`, "error");
        confirmButton.disabled = false;
      }
    });
    confirmBox.append(revokeForm);
    const expires = new Date(grant.expires_at);
    return h("li", { class: "grant", dataset: { grantId: String(grant.id), camera: grant.camera_code, agency: grant.agency } },
      h("div", { class: "grant-main" },
        h("strong", { class: "reference", text: grant.camera_code }),
        h("span", { class: "grant-arrow", "aria-hidden": "true", text: " → " }),
        h("span", { class: "grant-agency", text: grant.agency_name })),
      h("div", { class: "grant-facts" },
        h("span", { class: "grant-countdown", role: "timer", dataset: { expires: grant.expires_at },
          text: countdownText(remaining(grant)) }),
        h("span", { class: "muted", text: `jusqu'à ${clock.format(expires)}` }),
        viewersNode(grant)),
      h("p", { class: "grant-reason" },
        grant.reason ? `Motif : ${grant.reason}` : "Sans motif",
        h("span", { class: "muted" }, ` · par ${grant.granted_by} à `, timeElement(grant.created_at))),
      h("div", { class: "form-row grant-actions" }, extend, revoke),
      confirmBox);
  }

  /** @param {Grant} grant */
  function endedItem(grant) {
    const why = END_LABELS[grant.end_reason] || grant.end_reason;
    return h("li", { class: "grant ended", dataset: { grantId: String(grant.id), camera: grant.camera_code, agency: grant.agency } },
      h("div", { class: "grant-main" },
        h("strong", { class: "reference", text: grant.camera_code }),
        h("span", { class: "grant-arrow", "aria-hidden": "true", text: " → " }),
        h("span", { text: grant.agency_name })),
      h("p", { class: "grant-reason" },
        `${why[0].toUpperCase()}${why.slice(1)} à `, timeElement(grant.ended_at),
        grant.revoke_reason ? ` : ${grant.revoke_reason}` : ""));
  }

  function renderGrants() {
    if (!parts) return;
    const all = [...grants.values()].sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at) || a.id - b.id);
    const active = all.filter((grant) => grant.active);
    const ended = all.filter((grant) => !grant.active).reverse();
    // Rebuilt only when what they show changed: an open "Mettre fin" box survives the others' news.
    const key = JSON.stringify(active.map((g) => [g.id, g.expires_at, g.viewers, limits.grant_default_minutes]));
    if (parts.listKey !== key) {
      const open = new Map(findAll(".grant-revoke:not([hidden])", parts.list)
        .map((box) => [/** @type {HTMLElement} */ (box.closest(".grant")).dataset.grantId,
          /** @type {HTMLInputElement} */ (find("input", box)).value]));
      parts.listKey = key;
      parts.list.replaceChildren(...active.map(grantItem));
      for (const [id, typed] of open) {
        const box = find(`.grant[data-grant-id="${id}"] .grant-revoke`, parts.list);
        if (box) {
          box.hidden = false;
          /** @type {HTMLInputElement} */ (find("input", box)).value = typed;
        }
      }
    }
    parts.none.hidden = active.length > 0;
    parts.count.textContent = active.length ? ` · ${active.length} en cours` : "";
    parts.ended.hidden = ended.length === 0;
    parts.ended.replaceChildren(
      h("summary", { text: `Renvois terminés (${ended.length})` }),
      h("ul", { class: "grant-list" }, ended.map(endedItem)));
  }

  // --- The wall: which camera in which tile, shared by every operator.

  function renderWallForm() {
    if (!parts || !wall) return;
    const cameras = incidentCameras().filter(({ facts: known }) => !known || known.authorised);
    const key = JSON.stringify([wall.updated_at, wall.tiles, cameras.map((c) => c.id), factsKey, facts.size]);
    if (parts.wallKey === key) return;
    parts.wallKey = key;
    const form = parts.wallForm;
    if (!cameras.length) {
      form.replaceChildren(h("p", { class: "muted", text: "Aucune caméra autorisée à afficher." }),
        h("a", { href: urls.wallPage, target: "_blank", rel: "noopener", text: "Ouvrir le mur" }));
      return;
    }
    /** @param {string} name */
    const kept = (name) => {
      const field = /** @type {HTMLSelectElement | null} */ (form.elements.namedItem(name));
      return field ? field.value : "";
    };
    const keepCamera = kept("wall-camera");
    const keepTile = kept("wall-tile");
    const byPosition = new Map(wall.tiles.map((/** @type {WallTile} */ tile) => [tile.position, tile]));
    const cameraSelect = h("select", { id: "wall-camera", name: "wall-camera" },
      cameras.map(({ id, facts: known }) => h("option", { value: String(id), text: known ? known.code : `Caméra ${id}` })));
    const tileSelect = h("select", { id: "wall-tile", name: "wall-tile" },
      Array.from({ length: wall.columns * wall.rows }, (_, index) => {
        const tile = byPosition.get(index + 1);
        return h("option", { value: String(index + 1), text: `Tuile ${index + 1} — ${tile ? tile.camera_code : "libre"}` });
      }));
    if (keepCamera && cameras.some(({ id }) => String(id) === keepCamera)) cameraSelect.value = keepCamera;
    if (keepTile) tileSelect.value = keepTile;
    else {
      const free = Array.from({ length: wall.columns * wall.rows }, (_, i) => i + 1).find((p) => !byPosition.has(p));
      if (free) tileSelect.value = String(free);
    }
    const submit = h("button", { type: "submit", class: "secondary compact", text: "Envoyer au mur" });
    form.replaceChildren(
      h("div", { class: "wall-fields" },
        h("label", { for: "wall-camera", text: "Caméra" }), cameraSelect,
        h("label", { for: "wall-tile", text: `Tuile (${wall.label})` }), tileSelect),
      h("div", { class: "form-row" }, submit,
        h("a", { href: urls.wallPage, target: "_blank", rel: "noopener", text: "Ouvrir le mur" })));
    form.onsubmit = async (event) => {
      event.preventDefault();
      submit.disabled = true;
      const position = Number(tileSelect.value);
      try {
        wall = await call(`${urls.walls}${encodeURIComponent(wall.name)}/tiles/`, {
          method: "POST", body: { position, camera: cameraSelect.value },
        });
        const shown = byPositionOf(wall, position);
        say(`${shown ? shown.camera_code : "Caméra"} affichée sur la tuile ${position} du mur.`, "ok");
        renderWallForm();
      } catch (err) {
        say(`Mur d'images : ${err.message}`, "error");
      } finally {
        submit.disabled = false;
      }
    };
  }

  /**
   * @param {{tiles: WallTile[]}} layout
   * @param {number} position
   */
  function byPositionOf(layout, position) {
    return layout.tiles.find((tile) => tile.position === position) || null;
  }

  // --- Live.

  /** @param {import("./lib/events.js").EventFrame} frame */
  function onEvent(frame) {
    const data = frame.data || {};
    switch (frame.type) {
      case "grant.created":
      case "grant.revoked":
      case "grant.ended":
        if (data.grant.incident_id === incidentId) upsert(fromEvent(data.grant));
        break;
      case "grant.viewers": {
        const known = grants.get(data.grant_id);
        if (known) {
          known.viewers = data.viewers;
          renderGrants();
        }
        break;
      }
      case "incident.updated":
      case "incident.shared":
        // Closed, or shared with another service: the grants' state and the form's services follow.
        if (data.incident.id === incidentId) loadGrants();
        break;
      case "incident.unshared":
        if (data.incident_id === incidentId) loadGrants();
        break;
      case "wall.updated":
        if (wall && data.wall.name === wall.name) {
          wall = data.wall;
          renderWallForm();
        }
        break;
      default:
        break;
    }
  }

  function reload() {
    loadGrants();
    loadWall();
    factsKey = "";
    if (detail) update(detail);
  }

  /** @param {number} cameraId */
  function recorded(cameraId) {
    const known = facts.get(cameraId);
    return known ? known.recorded : null;
  }

  return { open, close, update, onEvent, reload, recorded, factsVersion: () => `${factsKey}|${facts.size}`, cameraLabel };
}
