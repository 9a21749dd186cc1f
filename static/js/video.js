// @ts-check
/*
 * Live camera video over WHEP (docs/video.md): one <video> plays one camera.
 *
 *   import { WhepPlayer } from "./video.js";
 *   const player = new WhepPlayer(videoElement, {
 *     url: "/api/streaming/cameras/12/whep",
 *     onState(state, message) {},   // state: "connecting" | "playing" | "refused" | "unavailable"
 *   });                             //        | "cut" | "ended" | "error"; message: French, for people
 *   await player.start();
 *   await player.stop();            // hang up (DELETE), e.g. when the tile goes away
 *
 * The browser offers to receive video only (recvonly), waits for its ICE candidates
 * (bounded), POSTs the offer with the session cookie and the CSRF token, and plays
 * the answer. The hub checks the viewer's rights on every offer and again twice a
 * second while they watch: a refusal (403) says why, in French; a grant revoked or
 * expired closes the connection, and the player says the images were cut. Hanging up
 * sends the DELETE before closing the connection (the hub journals a hang-up, not a lost
 * peer); leaving the page hangs up with a DELETE that survives the unload (keepalive).
 */

import { authHeaders } from "./lib/http.js";

const ICE_GATHERING_TIMEOUT_MS = 2000;
const STALL_MS = 2500; // no new picture for this long: the images were cut
const HANG_UP_WAIT_MS = 2000; // the hub's answer to a hang-up, waited for at most, before closing

/** @typedef {"idle" | "connecting" | "playing" | "refused" | "unavailable" | "cut" | "ended" | "error"} PlayerState */
/** @typedef {(state: PlayerState, message: string) => void} StateListener */

/** The page's own words for the player's states; the hub's detail, when it gives one, wins. */
export const MESSAGES = {
  connecting: "Connexion au flux…",
  playing: "En direct",
  cut: "Images interrompues : le renvoi d'images a pris fin ou vos droits ont changé.",
  ended: "Flux fermé.",
  unavailable: "Caméra indisponible : la source vidéo ne répond pas.",
  error: "Le flux vidéo n'a pas pu être ouvert.",
  notFound: "Caméra inconnue.",
  refused: "Accès aux images refusé.",
  signedOut: "Votre session a pris fin : reconnectez-vous.",
};

/** @param {RTCPeerConnection} pc */
function waitForIceGathering(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((/** @type {(value?: unknown) => void} */ resolve) => {
    const done = () => {
      if (pc.iceGatheringState === "complete") {
        pc.removeEventListener("icegatheringstatechange", done);
        resolve();
      }
    };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, ICE_GATHERING_TIMEOUT_MS); // send what we have: the hub's candidates suffice
  });
}

export class WhepPlayer {
  /**
   * @param {HTMLVideoElement} video
   * @param {{url: string, onState?: StateListener, iceServers?: RTCIceServer[]}} options
   */
  constructor(video, { url, onState = () => {}, iceServers = [] }) {
    this.video = video;
    this.url = url;
    this.onState = onState;
    this.iceServers = iceServers;
    /** @type {RTCPeerConnection | null} */
    this.pc = null;
    /** @type {string | null} */
    this.sessionUrl = null;
    /** @type {PlayerState} */
    this.state = "idle";
    this.message = "";
    this.frames = 0;
    this.lastFrameAt = 0;
    /** @type {number | undefined} */
    this._stallTimer = undefined;
    this._stopped = false;
  }

  /**
   * @param {PlayerState} state
   * @param {string} [message]
   */
  _set(state, message = /** @type {Record<string, string>} */ (MESSAGES)[state] || "") {
    if (this.state === state && this.message === message) return;
    this.state = state;
    this.message = message;
    this.onState(state, message);
  }

  async start() {
    this._stopped = false;
    this._set("connecting");
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pc = pc;
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addEventListener("track", (event) => {
      this.video.srcObject = event.streams[0] || new MediaStream([event.track]);
      this.video.play().catch(() => {}); // muted autoplay is allowed; a refusal is harmless
      this._watchFrames();
    });
    pc.addEventListener("connectionstatechange", () => {
      if (this._stopped) return;
      if (["failed", "closed", "disconnected"].includes(pc.connectionState)) this._cut();
    });
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await waitForIceGathering(pc);
      const response = await fetch(this.url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/sdp", Accept: "application/sdp", ...authHeaders() },
        body: pc.localDescription.sdp,
      });
      if (this._stopped || this.pc !== pc) {
        // Hung up while the offer was on its way: end the viewing the hub may just have opened.
        const opened = response.status === 201 ? response.headers.get("Location") : null;
        if (opened) this._hangUp(opened);
        return false;
      }
      if (response.status !== 201) {
        await this._refused(response);
        return false;
      }
      this.sessionUrl = response.headers.get("Location");
      await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
      return true;
    } catch (error) {
      if (this._stopped) return false; // hung up meanwhile: the player says so already
      this._close();
      this._set("error", `${MESSAGES.error} (${error.message || error})`);
      return false;
    }
  }

  /** @param {Response} response */
  async _refused(response) {
    /** @type {{detail?: unknown, error?: string}} */
    let body = {};
    try {
      body = await response.json();
    } catch {
      /* not JSON */
    }
    this._close();
    // The hub says why in French (`detail`); the page's own words only when it said nothing.
    const said = typeof body.detail === "string" && body.detail ? body.detail : null;
    if (response.status === 403 && body.error === "video_not_allowed") {
      this._set("refused", said || MESSAGES.refused);
    } else if (response.status === 401 || response.status === 403) {
      this._set("refused", MESSAGES.signedOut);
    } else if (response.status === 404) {
      this._set("error", MESSAGES.notFound);
    } else if (response.status === 503) {
      this._set("unavailable", said || MESSAGES.unavailable);
    } else {
      this._set("error", said || MESSAGES.error);
    }
  }

  _watchFrames() {
    const video = this.video;
    const onFrame = () => {
      this.frames += 1;
      this.lastFrameAt = performance.now();
      if (this.state === "connecting") this._set("playing");
      if (!this._stopped && this.pc) video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
    clearInterval(this._stallTimer);
    this._stallTimer = setInterval(() => {
      if (this.state === "playing" && performance.now() - this.lastFrameAt > STALL_MS) this._cut();
    }, 500);
  }

  _cut() {
    if (this._stopped || ["cut", "refused", "ended"].includes(this.state)) return;
    this._close();
    this._set("cut");
  }

  _close() {
    clearInterval(this._stallTimer);
    if (this.pc) {
      this.pc.close();
      this.pc = null;
    }
    this.video.srcObject = null;
  }

  /**
   * Hang up: the hub journals the end of the viewing. The DELETE goes first and the connection
   * is closed once the hub has answered (2 s at most): closed first, the hub would see the peer
   * leave before the hang-up arrives, and journal a lost connection. A page going away cannot
   * wait (`leaving`): the DELETE (keepalive, it outlives the page) is sent, then the connection
   * closed at once; the hub answers such a late DELETE as done.
   * @param {{message?: string, state?: PlayerState, leaving?: boolean}} [options]
   */
  async stop({ message = MESSAGES.ended, state = "ended", leaving = false } = {}) {
    this._stopped = true;
    const url = this.sessionUrl;
    this.sessionUrl = null;
    this._set(state, message);
    if (url) {
      const answered = this._hangUp(url);
      if (!leaving) await Promise.race([answered, new Promise((resolve) => { setTimeout(resolve, HANG_UP_WAIT_MS); })]);
    }
    this._close();
  }

  /**
   * DELETE the viewing; settles when the hub has answered, or could not be reached.
   * @param {string} url
   */
  _hangUp(url) {
    return fetch(url, {
      method: "DELETE",
      credentials: "same-origin",
      keepalive: true,
      headers: authHeaders(),
    }).then(() => {}, () => {
      /* the hub hangs up by itself when the peer goes silent */
    });
  }
}

/**
 * A tile: title, <video>, a status line; returns {element, player, video, setSubtitle, end}.
 * end(message) hangs up for good: the picture goes, the message says why.
 * @param {{title: string, subtitle?: string, url: string, iceServers?: RTCIceServer[], onState?: StateListener}} options
 */
export function videoTile({ title, subtitle = "", url, iceServers = [], onState = () => {} }) {
  const element = document.createElement("article");
  element.className = "video-tile";
  element.dataset.state = "idle";
  const header = document.createElement("header");
  const h = document.createElement("h2");
  h.textContent = title;
  const sub = document.createElement("p");
  sub.className = "video-sub";
  sub.textContent = subtitle;
  sub.hidden = !subtitle;
  header.append(h, sub);
  const video = document.createElement("video");
  video.muted = true;
  video.autoplay = true;
  video.playsInline = true;
  const status = document.createElement("p");
  status.className = "video-message";
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");
  element.append(header, video, status);
  const player = new WhepPlayer(video, {
    url,
    iceServers,
    onState(state, message) {
      element.dataset.state = state;
      status.textContent = message;
      onState(state, message);
    },
  });
  /** @param {string} text */
  const setSubtitle = (text) => {
    sub.textContent = text;
    sub.hidden = !text;
  };
  /**
   * @param {string} message
   * @param {{state?: PlayerState}} [options]
   */
  const end = (message, { state = "cut" } = {}) => {
    player.stop({ state, message });
    element.dataset.ended = "true";
    video.remove();
  };
  return { element, player, video, setSubtitle, end };
}

/**
 * Hang every player up when the page goes away.
 * @param {() => WhepPlayer[]} players
 */
export function hangUpOnLeave(players) {
  window.addEventListener("pagehide", () => {
    for (const player of players()) player.stop({ leaving: true });
  });
}
