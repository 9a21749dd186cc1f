// @ts-check
/*
 * The hub's live events, over /ws/events/ (protocol: docs/realtime.md).
 *
 *   import { connectEvents } from "./lib/events.js";
 *   const stream = connectEvents({
 *     onEvent(frame) {},            // {"id", "type", "at", "data"}: each id once, in increasing order
 *     onResync() {},                // the page may have missed events: reload its snapshot over REST
 *     onStatus(label, state) {},    // "connexion…" | "connecté" | "reconnexion…" | "déconnecté"
 *   });                             //   | "session terminée"
 *                                   // state: "connecting" | "open" | "reconnecting" | "closed" | "ended"
 *   stream.close();
 *
 * The socket opens on the page's own origin, so the browser sends the session
 * cookie. The id of the last event seen is kept in memory and in sessionStorage
 * (it survives a reload of the tab). After a drop the client reconnects with
 * ?last_event_id=N, after 0.5 s doubling up to 30 s, with jitter so that a
 * whole control room does not come back in the same second; the server then
 * replays what was missed (a close with 1013, the hub saturated, waits 5 to 10 s
 * first). A close with 4401 means the credential the socket was opened with ended (signed
 * out, session ended from « Mes sessions » or expired, account deactivated): reconnecting
 * would only be refused again, so the client stops and reports "ended"; the page offers to
 * sign in again. onResync is also called when the client holds no
 * position at all (first connection of a tab, or a resync that gave none): the
 * page's snapshot may then be older than the stream.
 *
 * Acks ({"type":"ack"}) go every 100 events or every 5 s: the server disconnects
 * a client that leaves too many events unacknowledged. The server sends a
 * heartbeat at least every 30 s; 60 s with no frame at all means the connection
 * is dead even if the browser has not noticed (a NAT or proxy dropped it).
 */

/**
 * One event as the hub sends it: `data` has the shape its `type` declares on the server
 * (realtime/events.py and each app's events.py).
 * @typedef {{id: number, type: string, at: string, data: any}} EventFrame
 */

/**
 * The answer to a message this page sent (send()), matched by its "id".
 * @typedef {{type: "ack" | "error", id: string, error?: string, detail?: unknown}} Reply
 */

/** @typedef {"connecting" | "open" | "reconnecting" | "closed" | "ended"} StreamState */

/**
 * @typedef {object} StreamOptions
 * @property {(frame: EventFrame) => void} [onEvent]
 * @property {() => void} [onResync]
 * @property {(label: string, state: StreamState) => void} [onStatus]
 * @property {(reply: Reply) => void} [onReply]
 * @property {string} [url]
 */

/**
 * @typedef {object} EventStream
 * @property {number | null} lastEventId
 * @property {(message: object) => boolean} send
 * @property {() => void} close
 */

const STORAGE_KEY = "csu.events.lastEventId";
const ACK_EVERY_EVENTS = 100;
const ACK_EVERY_MS = 5000;
const DEAD_AFTER_MS = 60000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30000;
const SNAPSHOT_PATIENCE_MS = 5000;
const CLOSE_BAD_REQUEST = 4400; // our last_event_id was refused: start again without one
// The hub had no database connection free ("try again later"): come back in 5 to 10 s, not at
// once, so that the sockets it closed do not all return while it is still saturated.
const CLOSE_TRY_AGAIN_LATER = 1013;
const TRY_AGAIN_LATER_MS = 5000;
// The socket's credential ended (docs/realtime.md): sign in again before reconnecting.
const CLOSE_CREDENTIAL_ENDED = 4401;

const LABELS = {
  connecting: "connexion…",
  open: "connecté",
  reconnecting: "reconnexion…",
  closed: "déconnecté",
  ended: "session terminée",
};

function readStoredId() {
  try {
    const value = Number.parseInt(window.sessionStorage.getItem(STORAGE_KEY) ?? "", 10);
    return Number.isSafeInteger(value) && value >= 0 ? value : null;
  } catch {
    return null; // storage disabled: memory only
  }
}

/** @param {number | null} id */
function storeId(id) {
  try {
    if (id === null) window.sessionStorage.removeItem(STORAGE_KEY);
    else window.sessionStorage.setItem(STORAGE_KEY, String(id));
  } catch {
    /* storage disabled: memory only */
  }
}

/** @param {string | undefined} url */
function socketUrl(url) {
  const target = new URL(url || "/ws/events/", window.location.href);
  if (target.protocol === "http:") target.protocol = "ws:";
  if (target.protocol === "https:") target.protocol = "wss:";
  return target;
}

/**
 * @param {StreamOptions} [options]
 * @returns {EventStream}
 */
export function connectEvents({ onEvent = () => {}, onResync = () => {}, onStatus = () => {}, onReply = () => {},
  url } = {}) {
  const base = socketUrl(url);
  let lastId = readStoredId();
  /** @type {WebSocket | null} */
  let socket = null;
  let attempt = 0;
  let unacked = 0;
  let stopped = false;
  /** @type {number | null} */
  let retryTimer = null;
  /** @type {number | undefined} */
  let deadTimer;
  /** @type {number | undefined} */
  let ackTimer;

  /** @param {StreamState} state */
  function status(state) {
    try {
      onStatus(LABELS[state], state);
    } catch (err) {
      console.error(err);
    }
  }

  /** @param {number | null} id */
  function setPosition(id) {
    lastId = id;
    storeId(id);
  }

  function open() {
    retryTimer = null;
    const target = new URL(base);
    if (lastId !== null) target.searchParams.set("last_event_id", String(lastId));
    status(attempt === 0 ? "connecting" : "reconnecting");
    const ws = new WebSocket(target);
    socket = ws;
    watch(); // a handshake that hangs is a dead connection too
    // Handlers check `ws === socket`: a socket given up on (watchdog) may still fire late.
    ws.onopen = () => {
      if (ws !== socket) return;
      attempt = 0;
      unacked = 0;
      status("open");
      watch();
      ackTimer = window.setInterval(ack, ACK_EVERY_MS);
      if (lastId === null) safely(onResync);
    };
    ws.onmessage = (message) => {
      if (ws !== socket) return;
      watch();
      receive(message.data);
    };
    ws.onclose = (event) => {
      if (ws !== socket) return;
      dropped(event.code);
    };
    // An error is always followed by a close: nothing to do in onerror.
  }

  /** @param {string} text */
  function receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame === null || typeof frame !== "object") return;
    if ((frame.type === "ack" || frame.type === "error") && typeof frame.id === "string") {
      safely(onReply, frame); // the answer to a message this page sent (send() below)
      return;
    }
    if (Number.isSafeInteger(frame.id)) {
      if (lastId !== null && frame.id <= lastId) return; // seen already (replay seam)
      setPosition(frame.id);
      unacked += 1;
      if (unacked >= ACK_EVERY_EVENTS) ack();
      safely(onEvent, frame);
      return;
    }
    switch (frame.type) {
      case "resync":
        // The server's current position: what follows it is live. Without one, hold none,
        // so that the next connection asks for a snapshot again.
        setPosition(Number.isSafeInteger(frame.last_event_id) ? frame.last_event_id : null);
        safely(onResync);
        break;
      case "error":
        console.warn("events:", frame.error, frame.detail);
        break;
      default:
        // heartbeat (liveness only: the watchdog was re-armed), pong, rescoped.
        break;
    }
  }

  function ack() {
    if (unacked === 0 || lastId === null || !socket || socket.readyState !== WebSocket.OPEN) return;
    socket.send(JSON.stringify({ type: "ack", last_event_id: lastId }));
    unacked = 0;
  }

  function watch() {
    window.clearTimeout(deadTimer);
    deadTimer = window.setTimeout(() => {
      // Do not wait for the closing handshake of a dead connection: give up on it now.
      const dead = socket;
      socket = null;
      if (dead) dead.close();
      dropped(null);
    }, DEAD_AFTER_MS);
  }

  function clearTimers() {
    window.clearTimeout(deadTimer);
    window.clearInterval(ackTimer);
    deadTimer = ackTimer = undefined;
  }

  /** @param {number | null} code */
  function dropped(code) {
    socket = null;
    clearTimers();
    if (stopped) return;
    if (code === CLOSE_CREDENTIAL_ENDED) {
      stopped = true;
      window.removeEventListener("online", retryNow);
      status("ended");
      return;
    }
    if (code === CLOSE_BAD_REQUEST) setPosition(null);
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt);
    let delay = ceiling / 2 + Math.random() * (ceiling / 2);
    if (code === CLOSE_TRY_AGAIN_LATER) delay = Math.max(delay, TRY_AGAIN_LATER_MS * (1 + Math.random()));
    attempt += 1;
    status("reconnecting");
    retryTimer = window.setTimeout(open, delay);
  }

  function retryNow() {
    // The network is back: no need to wait for the end of a long backoff.
    if (retryTimer !== null && !stopped) {
      window.clearTimeout(retryTimer);
      open();
    }
  }

  /**
   * @template {unknown[]} A
   * @param {(...args: A) => void} callback
   * @param {A} args
   */
  function safely(callback, ...args) {
    try {
      callback(...args);
    } catch (err) {
      console.error(err); // page code must not break the stream
    }
  }

  window.addEventListener("online", retryNow);
  open();

  return {
    get lastEventId() {
      return lastId;
    },
    /** Send a message (a tablet's position) when the socket is open; false when it is not
     * (the caller then takes another way). Its answer comes to onReply, by its "id".
     * @param {object} message */
    send(message) {
      if (!socket || socket.readyState !== WebSocket.OPEN) return false;
      socket.send(JSON.stringify(message));
      return true;
    },
    close() {
      stopped = true;
      window.removeEventListener("online", retryNow);
      window.clearTimeout(retryTimer);
      retryTimer = null;
      clearTimers();
      const current = socket;
      socket = null;
      if (current) current.close(1000);
      status("closed");
    },
  };
}

/**
 * The page's snapshot first (docs/realtime.md: the snapshot, then the stream), then the
 * stream; a snapshot that hangs must not keep the stream away: 5 s at most.
 * @param {Promise<unknown>} snapshot
 * @param {StreamOptions} options
 * @returns {Promise<EventStream>}
 */
export function connectAfter(snapshot, options) {
  const patience = new Promise((resolve) => { window.setTimeout(resolve, SNAPSHOT_PATIENCE_MS); });
  return Promise.race([snapshot.catch(() => {}), patience]).then(() => connectEvents(options));
}
