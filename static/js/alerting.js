// @ts-check
/*
 * What wakes a night operator (console, tablet, Croix-Rouge desk): while something needs an
 * answer — a flash or urgent message waiting for this station's acknowledgement, an escalation,
 * a new Croix-Rouge alert — the page
 *   - beeps with the Web Audio API (an oscillator pattern: no sound file), again and again until
 *     it is acknowledged or the sound is cut ("Couper le son": a later alarm rings again);
 *   - shows the count in its header (#alarm, data-alarm="<count>") and in the tab's title.
 *
 * Browsers keep audio suspended until the page gets a first click or key press. When that is the
 * case the page says so once (#sound-prompt, "Cliquez pour activer les alertes sonores"); the
 * answer is remembered for the browser session, and after a reload the first click anywhere turns
 * the sound back on (the browser asks for a gesture on every page load).
 *
 * Each page decides what alarms: ``alarm.set(key, active, {level, element})`` for every item it
 * shows, whenever the item changes; the module keeps the set, the sound and the count.
 */

import { find } from "./lib/dom.js";

const SOUND_KEY = "csu.alarm.sound"; // sessionStorage: "on" once the operator allowed the sound
const SEEN_KEY = "csu.alarm.seen"; // localStorage: alarms this browser marked as seen

// [frequency Hz, start s, length s]: flash is three high beeps every 3 s, urgent two lower ones every 6 s.
/** @typedef {"urgent" | "flash"} Level */
/** @typedef {{every: number, beeps: Array<[number, number, number]>, vibrate: number[]}} Pattern */
/** @type {Record<Level, Pattern>} */
const PATTERNS = {
  flash: { every: 3000, beeps: [[1319, 0, 0.14], [1319, 0.22, 0.14], [1319, 0.44, 0.14]], vibrate: [300, 100, 300, 100, 300] },
  urgent: { every: 6000, beeps: [[880, 0, 0.2], [659, 0.3, 0.2]], vibrate: [300, 150, 300] },
};
/** @type {Record<Level, number>} */
const RANK = { urgent: 1, flash: 2 };

/** @returns {Set<string>} */
function readSeen() {
  try {
    return new Set(JSON.parse(window.localStorage.getItem(SEEN_KEY) || "[]"));
  } catch {
    return new Set();
  }
}

export class Alarm {
  /** @param {{element?: HTMLElement | null, prompt?: HTMLElement | null}} [elements] the header's, the prompt's */
  constructor({
    element = document.getElementById("alarm"),
    prompt = document.getElementById("sound-prompt"),
  } = {}) {
    this.element = element;
    this.prompt = prompt;
    this.count = element ? find(".alarm-count", element) : null;
    this.label = element ? find(".alarm-label", element) : null;
    /** @type {HTMLButtonElement | null} */
    this.go = element ? find(".alarm-go", element) : null;
    /** @type {HTMLButtonElement | null} */
    this.silenceButton = element ? find(".alarm-silence", element) : null;
    this.title = document.title;
    /** @type {Map<string, {level: Level, element: HTMLElement | null}>} */
    this.active = new Map();
    /** @type {Set<string>} keys ringing when the sound was cut */
    this.silenced = new Set();
    this.seenKeys = readSeen();
    this.lastPattern = 0;
    /** @type {AudioContext | null} */
    this.context = null;
    this.hiding = false;

    this.unlock = this.unlock.bind(this);
    this.setUpAudio();
    if (this.silenceButton) {
      // Read at the click: the pointerdown before it has already started resuming the audio.
      this.silenceButton.addEventListener("click", () => {
        if (this.silenceButton.dataset.action === "unlock") this.unlock();
        else this.silence();
      });
    }
    if (this.go) this.go.addEventListener("click", () => this.showFirst());
    window.setInterval(() => this.tick(), 500);
    this.render();
  }

  // --- Audio: one context for the page, resumed by a gesture when the browser suspended it.

  setUpAudio() {
    const AudioContext = window.AudioContext || window.webkitAudioContext;
    if (!AudioContext) return;
    try {
      this.context = new AudioContext();
    } catch {
      return;
    }
    this.context.addEventListener("statechange", () => this.render());
    if (this.context.state === "running") return;
    // Any click or key press lets the browser play: take the first one.
    for (const type of ["pointerdown", "keydown", "touchend"]) {
      document.addEventListener(type, this.unlock, { capture: true });
    }
    const allowed = window.sessionStorage.getItem(SOUND_KEY) === "on";
    if (this.prompt && !allowed) {
      this.prompt.hidden = false;
      const button = this.prompt.querySelector("button");
      if (button) button.addEventListener("click", this.unlock);
    }
  }

  unlock() {
    if (!this.context) return;
    try {
      window.sessionStorage.setItem(SOUND_KEY, "on");
    } catch { /* storage disabled: asked again next time */ }
    if (this.prompt && !this.prompt.hidden && !this.hiding) {
      // Hidden once the gesture has done its work: removing the banner at pointerdown would move
      // what is under the pointer before the click lands there.
      this.hiding = true;
      const hide = () => {
        this.prompt.hidden = true;
        this.render();
      };
      document.addEventListener("click", () => window.setTimeout(hide, 0), { once: true, capture: true });
      window.setTimeout(hide, 1000);
    }
    this.context.resume().then(() => {
      for (const type of ["pointerdown", "keydown", "touchend"]) {
        document.removeEventListener(type, this.unlock, { capture: true });
      }
      this.lastPattern = 0; // ring at once what was waiting
      this.tick();
    }).catch(() => {});
  }

  get soundState() {
    if (!this.ringing().length) return this.active.size ? "silenced" : "off";
    if (!this.context) return "unsupported";
    return this.context.state === "running" ? "ringing" : "blocked";
  }

  // --- The set of alarms.

  /**
   * ``key`` alarms (``active``) or not any more; ``element`` is where it is shown on the page.
   * @param {string} key
   * @param {unknown} active
   * @param {{level?: string, element?: HTMLElement | null}} [options] level: "urgent" | "flash"
   *   (a routine one, or anything else, rings as urgent)
   */
  set(key, active, { level = "urgent", element = null } = {}) {
    const on = Boolean(active);
    const had = this.active.has(key);
    if (on) {
      this.active.set(key, { level: level === "flash" ? "flash" : "urgent", element });
      if (!had) this.lastPattern = 0; // a new alarm rings now, not at the next beat
    } else if (had) {
      this.active.delete(key);
      this.silenced.delete(key);
    }
    if (on !== had) {
      this.render();
      if (on) this.tick();
    }
  }

  /**
   * Marked as seen in this browser (an escalation the operator has read).
   * @param {string} key
   */
  seen(key) {
    return this.seenKeys.has(key);
  }

  /** @param {string} key */
  markSeen(key) {
    this.seenKeys.add(key);
    try {
      // The newest few hundred are enough: older items have left the screens.
      window.localStorage.setItem(SEEN_KEY, JSON.stringify([...this.seenKeys].slice(-500)));
    } catch { /* kept in memory */ }
    this.set(key, false);
  }

  silence() {
    for (const key of this.active.keys()) this.silenced.add(key);
    this.render();
  }

  ringing() {
    return [...this.active.entries()].filter(([key]) => !this.silenced.has(key));
  }

  showFirst() {
    const first = [...this.active.values()].find((a) => a.element && a.element.isConnected);
    if (!first) return;
    first.element.scrollIntoView({ block: "center", behavior: "smooth" });
    const target = find("button", first.element) || first.element;
    target.focus({ preventScroll: true });
  }

  // --- Sound.

  tick() {
    const ringing = this.ringing();
    if (!ringing.length || !this.context || this.context.state !== "running") return;
    const level = ringing.reduce((/** @type {Level} */ top, [, a]) => (RANK[a.level] > RANK[top] ? a.level : top), "urgent");
    const pattern = PATTERNS[level];
    const now = Date.now();
    if (now - this.lastPattern < pattern.every) return;
    this.lastPattern = now;
    this.play(pattern);
  }

  /** @param {Pattern} pattern */
  play(pattern) {
    const ctx = this.context;
    const start = ctx.currentTime + 0.02;
    for (const [frequency, at, length] of pattern.beeps) {
      const oscillator = ctx.createOscillator();
      const gain = ctx.createGain();
      oscillator.type = "square";
      oscillator.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, start + at);
      gain.gain.exponentialRampToValueAtTime(0.3, start + at + 0.01);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + at + length);
      oscillator.connect(gain).connect(ctx.destination);
      oscillator.start(start + at);
      oscillator.stop(start + at + length + 0.02);
    }
    try {
      if (navigator.vibrate) navigator.vibrate(pattern.vibrate);
    } catch { /* not allowed */ }
  }

  // --- Header and title.

  render() {
    const n = this.active.size;
    document.title = n ? `(${n}) ${this.title}` : this.title;
    if (!this.element) return;
    const sound = this.soundState;
    this.element.dataset.alarm = String(n);
    this.element.dataset.sound = sound;
    if (this.count) this.count.textContent = String(n);
    if (this.label) {
      this.label.textContent = n ? `alerte${n > 1 ? "s" : ""} à traiter` : "aucune alerte";
    }
    if (this.go) this.go.disabled = n === 0;
    if (this.silenceButton) {
      // While the prompt asks for the click, the header does not ask a second time.
      const asking = this.prompt && !this.prompt.hidden;
      this.silenceButton.hidden = !(sound === "ringing" || (sound === "blocked" && !asking));
      this.silenceButton.dataset.action = sound === "blocked" ? "unlock" : "silence";
      this.silenceButton.textContent = sound === "blocked" ? "Son bloqué : cliquez pour l'activer" : "Couper le son";
    }
  }
}
