// @ts-check
/*
 * Driving a PTZ camera from the operator console (console.js opens it from the incident's
 * suggested cameras, « Piloter »): the live view over WHEP (video.js's tile), the lease
 * (« Prendre la main » / « Rendre la main », who holds it), a joystick (drag on the picture,
 * the pad, the keyboard's arrows, + / − and the wheel for the zoom), the camera's presets,
 * « Viser l'incident », « Position d'origine », and the latency from a command to the first
 * changed picture, measured here on the frames the browser shows.
 *
 *   const ptz = ptzPanel({ host, urls: { state, whep }, iceServers, me: { id, supervisor } });
 *   ptz.open({ cameraId, code, incidentId });
 *   ptz.onEvent(frame);  ptz.reload();  ptz.close();
 *
 * The REST API (/api/ptz/cameras/<id>/…, docs/video.md « PTZ ») is the source; the ptz.lease and
 * ptz.position events of /ws/events/ keep the panel live: another operator taking the camera,
 * a supervisor taking it over (the holder is told), the position read back, a camera that
 * does not answer. Moves are coalesced here too (10 a second at most, the last one wins):
 * a stuck key never floods the hub, and the stop on release is never lost.
 */
import { h } from "./lib/dom.js";
import { api } from "./lib/http.js";
import { videoTile } from "./video.js";

const MOVE_INTERVAL_MS = 100; // 10 commands a second at most, as the hub's own limit
const DRAG_FULL_SPEED = 0.25; // a drag over a quarter of the picture's width is full speed
const DRAG_DEAD_ZONE = 0.02;
const KEY_SPEED = 0.6;
const WHEEL_PULSE_MS = 300; // a wheel notch zooms this long, then stops
const LATENCY_GIVE_UP_MS = 10000;
const THUMB_W = 48;
const THUMB_H = 27;

/** @typedef {[number, number, number]} Vector pan, tilt, zoom speeds, each in [-1, 1] */

/** @type {Record<string, Vector>} */
const KEYS = {
  ArrowLeft: [-KEY_SPEED, 0, 0],
  ArrowRight: [KEY_SPEED, 0, 0],
  ArrowUp: [0, KEY_SPEED, 0],
  ArrowDown: [0, -KEY_SPEED, 0],
  "+": [0, 0, KEY_SPEED],
  "=": [0, 0, KEY_SPEED],
  "-": [0, 0, -KEY_SPEED],
  "_": [0, 0, -KEY_SPEED],
};

/** @param {number} value */
const clamp = (value) => Math.max(-1, Math.min(1, value));
/** @param {number} value */
const round2 = (value) => Math.round(value * 100) / 100;
/** @param {Vector} v */
const isStop = (v) => v[0] === 0 && v[1] === 0 && v[2] === 0;
/** @param {Vector | null} a @param {Vector | null} b */
const same = (a, b) => a && b && a[0] === b[0] && a[1] === b[1] && a[2] === b[2];
/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => { window.setTimeout(resolve, ms); });
/** @param {number | null | undefined} value */
const number = (value) => (value === null || value === undefined ? "—"
  : value.toLocaleString("fr-FR", { minimumFractionDigits: 2, maximumFractionDigits: 2 }));

/**
 * The joystick's sender: at most one command every MOVE_INTERVAL_MS and one in flight; a
 * command given meanwhile replaces the one waiting (the last one wins), so the stop given on
 * release always goes, right after what was in flight.
 */
class MoveSender {
  /** @param {(vector: Vector, previous: Vector) => Promise<boolean>} send */
  constructor(send) {
    this.send = send;
    /** @type {Vector | null} */
    this.pending = null;
    /** @type {Vector} */
    this.lastSent = [0, 0, 0];
    this.lastAt = 0;
    this.busy = false;
    this.asked = 0;
    this.sent = 0;
  }

  /** @param {Vector} vector */
  set(vector) {
    this.asked += 1;
    this.pending = /** @type {Vector} */ (vector.map((value) => round2(clamp(value))));
    this.pump();
  }

  reset() {
    this.pending = null;
    this.lastSent = [0, 0, 0];
  }

  async pump() {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.pending) {
        const wait = this.lastAt + MOVE_INTERVAL_MS - performance.now();
        if (wait > 0) await sleep(wait);
        const vector = this.pending;
        this.pending = null;
        if (!vector || same(vector, this.lastSent)) continue; // nothing new to tell the camera
        const previous = this.lastSent;
        this.lastSent = vector;
        this.lastAt = performance.now();
        this.sent += 1;
        const ok = await this.send(vector, previous);
        if (!ok) this.lastSent = [0, 0, 0]; // refused: what it does now is unknown; say it again
      }
    } finally {
      this.busy = false;
    }
  }
}

/**
 * Latency from a command to the picture: every frame shown is reduced to a small grey
 * thumbnail; after a command, the first frame that differs from the one on screen when it
 * left (by more than the frames' own noise) gives the latency.
 */
class LatencyProbe {
  /** @param {(ms: number | null) => void} onResult null: the picture did not change in time */
  constructor(onResult) {
    this.onResult = onResult;
    this.canvas = document.createElement("canvas");
    this.canvas.width = THUMB_W;
    this.canvas.height = THUMB_H;
    this.ctx = this.canvas.getContext("2d", { willReadFrequently: true });
    /** @type {Uint8Array | null} */
    this.current = null;
    this.noise = 0;
    /** @type {{started: number, reference: Uint8Array, threshold: number} | null} */
    this.pending = null;
    /** @type {HTMLVideoElement | null} */
    this.video = null;
    /** @type {number | null} */
    this.handle = null;
  }

  /** @param {HTMLVideoElement} video */
  watch(video) {
    this.stop();
    this.video = video;
    /** @param {DOMHighResTimeStamp} now */
    const onFrame = (now) => {
      if (this.video !== video) return;
      this.sample(now);
      this.handle = video.requestVideoFrameCallback(onFrame);
    };
    if (typeof video.requestVideoFrameCallback === "function") {
      this.handle = video.requestVideoFrameCallback(onFrame);
    }
  }

  stop() {
    if (this.video && this.handle !== null && typeof this.video.cancelVideoFrameCallback === "function") {
      this.video.cancelVideoFrameCallback(this.handle);
    }
    this.video = null;
    this.handle = null;
    this.current = null;
    this.pending = null;
  }

  thumb() {
    const { video, ctx } = this;
    if (!video || !video.videoWidth) return null;
    ctx.drawImage(video, 0, 0, THUMB_W, THUMB_H);
    const data = ctx.getImageData(0, 0, THUMB_W, THUMB_H).data;
    const grey = new Uint8Array(THUMB_W * THUMB_H);
    for (let i = 0, j = 0; i < data.length; i += 4, j += 1) grey[j] = (data[i] * 3 + data[i + 1] * 6 + data[i + 2]) / 10;
    return grey;
  }

  /** @param {Uint8Array} a @param {Uint8Array} b */
  static diff(a, b) {
    let sum = 0;
    for (let i = 0; i < a.length; i += 1) sum += Math.abs(a[i] - b[i]);
    return sum / a.length;
  }

  /** @param {DOMHighResTimeStamp} now */
  sample(now) {
    const grey = this.thumb();
    if (!grey) return;
    if (this.current) {
      const change = LatencyProbe.diff(grey, this.current);
      if (this.pending) {
        const { started, reference, threshold } = this.pending;
        if (LatencyProbe.diff(grey, reference) > threshold) {
          this.pending = null;
          this.onResult(Math.max(0, Math.round(now - started)));
        } else if (now - started > LATENCY_GIVE_UP_MS) {
          this.pending = null;
          this.onResult(null);
        }
      } else {
        this.noise = this.noise * 0.8 + change * 0.2; // how much frames change by themselves
      }
    }
    this.current = grey;
  }

  /** A command leaves now: measure until the picture changes. */
  mark() {
    if (this.pending || !this.current) return;
    this.pending = { started: performance.now(), reference: this.current, threshold: Math.max(4, this.noise * 3 + 2) };
  }

  /** The picture the browser shows, as a small grey thumbnail (the browser test reads it). */
  snapshot() {
    const grey = this.thumb();
    return grey ? Array.from(grey) : null;
  }
}

/**
 * @param {object} options
 * @param {HTMLElement} options.host where the panel goes (over the map)
 * @param {{state: string, whep: string}} options.urls with /0/ for the camera's id
 * @param {RTCIceServer[]} [options.iceServers]
 * @param {{id: number, supervisor: boolean}} options.me
 * @param {() => void} [options.onClose]
 */
export function ptzPanel({ host, urls, iceServers = [], me, onClose = () => {} }) {
  /** @type {{cameraId: number, code: string, incidentId: number} | null} */
  let camera = null;
  /** @type {any} the API's state of the camera (GET /api/ptz/cameras/<id>/) */
  let state = null;
  /** @type {Record<string, HTMLElement & {[field: string]: any}> | null} */
  let parts = null;
  /** @type {ReturnType<typeof videoTile> | null} */
  let tile = null;
  let seq = 0;
  /** @type {{x: number, y: number, width: number, left: number, top: number} | null} where a drag started */
  let drag = null;
  /** @type {number | undefined} */
  let wheelTimer;
  /** @type {Set<string>} the keys held down */
  const held = new Set();
  const probe = new LatencyProbe((ms) => showLatency(ms));
  const sender = new MoveSender(sendMove);

  const cameraUrl = (suffix = "") => urls.state.replace("/0/", `/${camera.cameraId}/`) + suffix;
  const mine = () => Boolean(state && state.holder && state.holder.user_id === me.id);

  // --- Building.

  /** @param {{cameraId: number, code: string, incidentId: number}} which */
  function open({ cameraId, code, incidentId }) {
    if (camera && camera.cameraId === cameraId) {
      camera.incidentId = incidentId;
      parts.stage.focus({ preventScroll: true });
      return;
    }
    close();
    camera = { cameraId, code, incidentId };
    state = null;
    seq += 1;
    tile = videoTile({
      title: `Piloter ${code}`,
      subtitle: "PTZ",
      url: urls.whep.replace("/0/", `/${cameraId}/`),
      iceServers,
      onState: (videoState) => {
        if (videoState === "playing") probe.watch(tile.video);
        // The picture stopped (camera silent, network): say so in this panel's words (the
        // player's speak of a partner's grant), and offer to open it again.
        if (videoState === "cut") {
          tile.element.querySelector(".video-message").textContent =
            "Images interrompues : la caméra ou le réseau ne les envoie plus.";
        }
        if (parts) parts.reconnect.hidden = !["cut", "unavailable", "error"].includes(videoState);
      },
    });
    const holder = h("p", { class: "ptz-holder", role: "status", "aria-live": "polite", text: "…" });
    const closeButton = h("button", { type: "button", class: "icon-button", "aria-label": "Fermer le pilotage",
      title: "Fermer le pilotage (rend la main)", text: "×", on: { click: () => close() } });
    tile.element.querySelector("header").append(holder, closeButton);
    const knob = h("span", { class: "ptz-knob", hidden: true, "aria-hidden": "true" });
    const stage = h("div", {
      class: "ptz-stage", tabindex: "0", role: "application",
      "aria-label": `Image de ${code} : glisser sur l'image ou flèches pour orienter, + et − ou molette pour zoomer`,
    });
    tile.video.replaceWith(stage);
    stage.append(tile.video, knob);
    const latency = h("p", { class: "ptz-latency", "aria-live": "polite",
      title: "De la commande au premier changement de l'image affichée", text: "latence : —" });
    const take = h("button", { type: "button", class: "primary compact", "data-ptz": "take", text: "Prendre la main",
      on: { click: () => takeLease(false) } });
    const takeOver = h("button", { type: "button", class: "secondary compact", "data-ptz": "take-over",
      text: "Reprendre la main", title: "Superviseur, ou incident plus prioritaire", on: { click: () => takeLease(true) } });
    const release = h("button", { type: "button", class: "secondary compact", "data-ptz": "release",
      text: "Rendre la main", on: { click: () => releaseLease() } });
    const pad = buildPad();
    const presets = h("div", { class: "ptz-presets", role: "group", "aria-label": "Préréglages" });
    const aim = h("button", { type: "button", class: "action", "data-ptz": "aim", text: "Viser l'incident",
      on: { click: () => command("aim/", { incident: camera.incidentId }, "Caméra tournée vers l'incident") } });
    const home = h("button", { type: "button", class: "action", "data-ptz": "home", text: "Position d'origine",
      on: { click: () => command("home/", undefined, "Caméra revenue en position d'origine") } });
    const position = h("p", { class: "ptz-position", "aria-live": "polite" });
    const message = h("p", { class: "ptz-message", role: "alert" });
    const controls = h("div", { class: "ptz-controls" },
      pad,
      h("div", { class: "ptz-side" },
        h("h3", { text: "Préréglages" }), presets,
        h("div", { class: "ptz-actions" }, aim, home)));
    const reconnect = h("button", { type: "button", class: "secondary compact ptz-reconnect", hidden: true,
      text: "Reconnecter l'image", on: { click: () => { reconnect.hidden = true; tile.player.start(); } } });
    tile.element.querySelector(".video-message").after(reconnect);
    tile.element.append(
      h("div", { class: "ptz-bar" }, latency, h("div", { class: "ptz-lease" }, take, takeOver, release)),
      controls, position, message);
    const section = h("section", { class: "ptz-panel", "aria-label": `Pilotage de la caméra ${code}`,
      dataset: { camera: String(cameraId), code } }, tile.element);
    parts = { section, holder, stage, knob, latency, take, takeOver, release, pad, presets, aim, home, position,
      message, controls, reconnect };
    bindStage(stage, knob);
    host.append(section);
    tile.player.start();
    load();
    stage.focus({ preventScroll: true });
  }

  function buildPad() {
    /** @param {string} label @param {string} text @param {Vector} vector @param {string} [extra] */
    const button = (label, text, vector, extra = "") => h("button", {
      type: "button", class: `ptz-pad-button ${extra}`, "aria-label": label, title: label, text,
      dataset: { vector: vector.join(",") },
      on: {
        pointerdown: (event) => {
          event.preventDefault();
          /** @type {HTMLElement} */ (event.currentTarget).setPointerCapture(event.pointerId);
          startMove(vector);
        },
        pointerup: () => stopMove(),
        pointercancel: () => stopMove(),
        lostpointercapture: () => stopMove(),
        keydown: (event) => {
          if ((event.key === "Enter" || event.key === " ") && !event.repeat) {
            event.preventDefault();
            startMove(vector);
          }
        },
        keyup: (event) => {
          if (event.key === "Enter" || event.key === " ") stopMove();
        },
      },
    });
    return h("div", { class: "ptz-pad", role: "group", "aria-label": "Orientation et zoom (maintenir appuyé)" },
      h("span"), button("Haut", "▲", [0, KEY_SPEED, 0]), h("span"),
      button("Gauche", "◀", [-KEY_SPEED, 0, 0]), button("Arrêt", "■", [0, 0, 0], "stop"),
      button("Droite", "▶", [KEY_SPEED, 0, 0]),
      h("span"), button("Bas", "▼", [0, -KEY_SPEED, 0]), h("span"),
      button("Zoom arrière", "−", [0, 0, -KEY_SPEED], "zoom"), h("span"),
      button("Zoom avant", "+", [0, 0, KEY_SPEED], "zoom"));
  }

  /**
   * @param {HTMLElement} stage the picture, where a drag steers
   * @param {HTMLElement} knob
   */
  function bindStage(stage, knob) {
    stage.addEventListener("pointerdown", (event) => {
      if (event.button !== 0) return;
      if (!mine()) {
        if (state) say(state.holder ? `Caméra prise par ${state.holder.name}.`
          : "Prenez la main pour piloter la caméra.");
        return;
      }
      event.preventDefault();
      stage.focus({ preventScroll: true });
      stage.setPointerCapture(event.pointerId);
      const box = stage.getBoundingClientRect();
      drag = { x: event.clientX, y: event.clientY, width: box.width, left: box.left, top: box.top };
      knob.hidden = false;
      knob.style.setProperty("--x", `${event.clientX - box.left}px`);
      knob.style.setProperty("--y", `${event.clientY - box.top}px`);
      stage.classList.add("dragging");
    });
    stage.addEventListener("pointermove", (event) => {
      if (!drag) return;
      const span = drag.width * DRAG_FULL_SPEED;
      let pan = (event.clientX - drag.x) / span;
      let tilt = -(event.clientY - drag.y) / span;
      if (Math.abs(pan) < DRAG_DEAD_ZONE) pan = 0;
      if (Math.abs(tilt) < DRAG_DEAD_ZONE) tilt = 0;
      knob.style.setProperty("--x", `${event.clientX - drag.left}px`);
      knob.style.setProperty("--y", `${event.clientY - drag.top}px`);
      startMove([pan, tilt, 0]);
    });
    const end = () => {
      if (!drag) return;
      drag = null;
      knob.hidden = true;
      stage.classList.remove("dragging");
      stopMove();
    };
    stage.addEventListener("pointerup", end);
    stage.addEventListener("pointercancel", end);
    stage.addEventListener("lostpointercapture", end);
    stage.addEventListener("keydown", (event) => {
      const vector = KEYS[event.key];
      if (!vector || event.ctrlKey || event.metaKey || event.altKey) return;
      event.preventDefault();
      event.stopPropagation();
      if (event.repeat || held.has(event.key)) return; // the camera keeps moving while held
      held.add(event.key);
      keyMove();
    });
    stage.addEventListener("keyup", (event) => {
      if (!held.delete(event.key)) return;
      keyMove();
    });
    stage.addEventListener("blur", () => {
      if (held.size) {
        held.clear();
        stopMove();
      }
    });
    stage.addEventListener("wheel", (event) => {
      if (!mine()) return;
      event.preventDefault();
      startMove([0, 0, event.deltaY < 0 ? KEY_SPEED : -KEY_SPEED]);
      window.clearTimeout(wheelTimer);
      wheelTimer = window.setTimeout(() => stopMove(), WHEEL_PULSE_MS);
    }, { passive: false });
  }

  function keyMove() {
    /** @type {Vector} */
    const vector = [0, 0, 0];
    for (const key of held) KEYS[key].forEach((value, i) => { vector[i] += value; });
    if (isStop(vector)) stopMove();
    else startMove(vector);
  }

  // --- Talking to the hub.

  async function load() {
    if (!camera) return;
    const mySeq = seq;
    try {
      const answer = await api(cameraUrl());
      if (mySeq !== seq) return;
      state = answer;
      render();
    } catch (err) {
      if (mySeq !== seq) return;
      say(err.message, "error");
      parts.holder.textContent = "—";
      setDisabled(true);
    }
  }

  /** @param {boolean} takeOver */
  async function takeLease(takeOver) {
    /** @type {{take_over: boolean, incident?: number, reason?: string}} */
    const body = { take_over: takeOver };
    if (camera.incidentId) body.incident = camera.incidentId;
    if (takeOver) body.reason = me.supervisor ? "Reprise par le superviseur" : "Incident plus prioritaire";
    try {
      state = await api(cameraUrl("lease/"), { method: "POST", body });
      say(takeOver ? "Vous avez repris la main." : "Vous avez la main.", "ok");
      render();
      parts.stage.focus({ preventScroll: true });
    } catch (err) {
      say(err.message, "error");
      load();
    }
  }

  async function releaseLease({ quiet = false } = {}) {
    stopMove();
    try {
      state = await api(cameraUrl("lease/"), { method: "DELETE" });
      if (!quiet) {
        say("Main rendue.", "ok");
        render();
      }
    } catch (err) {
      if (!quiet) say(err.message, "error");
    }
  }

  /** @param {Vector} vector @param {Vector} previous */
  async function sendMove(vector, previous) {
    if (!camera || !mine()) return false;
    if (isStop(previous) && !isStop(vector)) probe.mark();
    try {
      const answer = await api(cameraUrl("move/"), { method: "POST", body: { pan: vector[0], tilt: vector[1], zoom: vector[2] } });
      if (answer && answer.position) showPosition(answer.position);
      return true;
    } catch (err) {
      say(err.message, "error");
      return false;
    }
  }

  /** @param {Vector} vector */
  function startMove(vector) {
    if (!mine()) return;
    sender.set(vector);
  }

  function stopMove() {
    if (!camera) return;
    if (!isStop(sender.lastSent) || (sender.pending && !isStop(sender.pending))) sender.set([0, 0, 0]);
  }

  /**
   * @param {string} path
   * @param {object} body
   * @param {string} done what to say when the camera did it
   */
  async function command(path, body, done) {
    if (!mine()) return;
    stopMove();
    const buttons = [parts.aim, parts.home, ...parts.presets.querySelectorAll("button")];
    buttons.forEach((button) => { button.disabled = true; });
    probe.mark();
    say("Commande envoyée…");
    try {
      const answer = await api(cameraUrl(path), { method: "POST", body });
      if (answer.position) showPosition(answer.position);
      let text = done;
      if (answer.method === "preset") text += ` (préréglage ${answer.preset})`;
      if (answer.method === "absolute") text += ` (cap ${Math.round(answer.bearing)}°, ${Math.round(answer.distance_m)} m)`;
      if (answer.reached === false) text += " — position non confirmée par la caméra";
      say(`${text}.`, answer.reached === false ? "error" : "ok");
    } catch (err) {
      say(err.message, "error");
    } finally {
      render();
    }
  }

  // --- Showing.

  /**
   * @param {string} text
   * @param {string} [kind] "ok" | "error" | ""
   */
  function say(text, kind = "") {
    if (!parts) return;
    parts.message.textContent = text;
    parts.message.className = `ptz-message${kind ? ` ${kind}` : ""}`;
  }

  /** @param {number | null} ms */
  function showLatency(ms) {
    if (!parts) return;
    parts.latency.textContent = ms === null ? "latence : image inchangée après 10 s" : `latence : ${ms} ms`;
    parts.latency.dataset.ms = ms === null ? "" : String(ms);
    parts.latency.dataset.measured = String(Number(parts.latency.dataset.measured || 0) + 1);
  }

  /** @param {boolean} disabled */
  function setDisabled(disabled) {
    for (const button of parts.controls.querySelectorAll("button")) button.disabled = disabled;
  }

  /** @param {{pan?: number, tilt?: number, zoom?: number}} position */
  function showPosition(position) {
    if (!state) return;
    state.position = { ...(state.position || {}), ...position };
    renderPosition();
  }

  function renderPosition() {
    const position = state && state.position;
    if (!position) {
      parts.position.textContent = "Position inconnue.";
      return;
    }
    const where = position.preset !== null && position.preset !== undefined
      ? `préréglage ${position.preset}` : "hors préréglage";
    const bits = [`pan ${number(position.pan)}`, `tilt ${number(position.tilt)}`, `zoom ${number(position.zoom)}`, where];
    if (position.moving) bits.push("en mouvement");
    parts.position.textContent = bits.join(" · ");
    parts.position.dataset.moving = String(Boolean(position.moving));
    parts.section.dataset.reachable = position.reachable === false ? "false" : "true";
    if (position.reachable === false) {
      parts.position.textContent += " · caméra injoignable";
    }
    for (const button of parts.presets.querySelectorAll("button")) {
      button.setAttribute("aria-pressed", String(Number(button.dataset.preset) === position.preset));
    }
  }

  function render() {
    if (!parts || !state) return;
    const holder = state.holder;
    const isMine = mine();
    parts.section.dataset.lease = isMine ? "mine" : holder ? "other" : "free";
    parts.holder.textContent = isMine ? "vous avez la main" : holder ? `pris par ${holder.name}` : "libre";
    parts.take.hidden = Boolean(holder);
    parts.takeOver.hidden = !holder || isMine;
    parts.release.hidden = !isMine;
    const presetKey = JSON.stringify(state.presets);
    if (parts.presets.dataset.key !== presetKey) {
      parts.presets.dataset.key = presetKey;
      /** @type {Array<{number: number, name: string}>} */
      const presets = state.presets;
      parts.presets.replaceChildren(...(presets.length ? presets.map((preset) => h("button", {
        type: "button", class: "secondary compact", dataset: { preset: String(preset.number) },
        text: `${preset.number} · ${preset.name}`, "aria-pressed": "false",
        on: { click: () => command("preset/", { preset: preset.number }, `Préréglage ${preset.number} atteint`) },
      })) : [h("span", { class: "muted", text: "Aucun préréglage." })]));
    }
    setDisabled(!isMine);
    parts.aim.disabled = !isMine || !camera.incidentId;
    parts.stage.classList.toggle("drivable", isMine);
    renderPosition();
  }

  /** @param {import("./lib/events.js").EventFrame} frame */
  function onEvent(frame) {
    if (!camera || !parts) return;
    const data = frame.data || {};
    if (data.camera_id !== camera.cameraId) return;
    if (frame.type === "ptz.lease") {
      const wasMine = mine();
      if (state) {
        state.holder = data.holder;
        state.incident = data.incident_id;
      }
      const previous = data.previous;
      if (previous && previous.user_id === me.id && (!data.holder || data.holder.user_id !== me.id)) {
        sender.reset();
        drag = null;
        held.clear();
        if (data.reason === "taken_over") {
          say(`${data.holder ? data.holder.name : "Un superviseur"} a repris la main : vous ne pilotez plus cette caméra.`, "error");
        } else if (data.reason === "idle") {
          say("Main rendue automatiquement après une période sans commande.", "error");
        }
      } else if (!wasMine && data.holder && data.holder.user_id !== me.id && data.reason === "taken_over") {
        say(`${data.holder.name} a repris la main.`);
      }
      if (state) render();
      else load();
    } else if (frame.type === "ptz.position") {
      if (!state) return;
      state.position = { pan: data.pan, tilt: data.tilt, zoom: data.zoom, preset: data.preset, moving: data.moving,
        reachable: data.reachable };
      renderPosition();
      if (!data.reachable) say("Caméra injoignable : elle n'a pas répondu à temps.", "error");
    }
  }

  function close({ release = true } = {}) {
    if (!camera) return;
    window.clearTimeout(wheelTimer);
    if (release && mine()) {
      // Stop what may still move, then hand the camera back (the hub sends it home later).
      const base = cameraUrl();
      const moving = !isStop(sender.lastSent) || sender.busy;
      (async () => {
        if (moving) await api(`${base}move/`, { method: "POST", body: { pan: 0, tilt: 0, zoom: 0 } }).catch(() => {});
        await api(`${base}lease/`, { method: "DELETE" }).catch(() => {});
      })();
    }
    sender.reset();
    probe.stop();
    if (tile) tile.player.stop();
    if (parts) parts.section.remove();
    tile = null;
    parts = null;
    camera = null;
    state = null;
    drag = null;
    held.clear();
    seq += 1;
    onClose();
  }

  // Leaving the page: hang up, and hand the camera back (keepalive survives the unload).
  window.addEventListener("pagehide", () => {
    if (!camera) return;
    if (mine()) {
      const csrf = document.cookie.split("; ").find((part) => part.startsWith("csrftoken="));
      fetch(cameraUrl("lease/"), { method: "DELETE", credentials: "same-origin", keepalive: true,
        headers: { "X-CSRFToken": csrf ? decodeURIComponent(csrf.slice(10)) : "" } }).catch(() => {});
    }
    if (tile) tile.player.stop({ leaving: true });
  });

  return {
    open,
    close,
    onEvent,
    reload: load,
    cameraId: () => (camera ? camera.cameraId : null),
    /* For the browser test and the curious: the thumbnail shown now, the sender's counts. */
    debug: () => ({ thumb: probe.snapshot(), asked: sender.asked, sent: sender.sent }),
  };
}
