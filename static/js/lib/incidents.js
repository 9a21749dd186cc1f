// @ts-check
/*
 * The incidents a page knows: ONE store, filled by a REST snapshot and kept current by the
 * events of /ws/events/ (apply), for the console, the partners' portal and the tablets alike.
 * What the events do to the store is decided here, not on each page: a page renders what
 * apply() answers.
 *
 *   const store = new IncidentStore({ agency: "PM-01" });  // null on the centre's console
 *   await store.loadSnapshot(() => api(url));
 *   const change = store.apply(frame);                    // null: not about an incident
 */

/** @typedef {{type: "Point", coordinates: [number, number]}} Point */

/**
 * An incident as the hub gives it, over REST and in every incident.* event (one shape:
 * incidents/events.py, IncidentData).
 * @typedef {object} Incident
 * @property {number} id
 * @property {string} reference
 * @property {string} nature
 * @property {string} nature_label
 * @property {number} priority
 * @property {string} status
 * @property {Point} location
 * @property {string} address
 * @property {string} commune
 * @property {string} commune_name
 * @property {string} description
 * @property {string} created_at
 * @property {number} version
 * @property {string[]} shared_with
 */

/**
 * A line of the main courante (GET /api/incidents/<id>/, "journal"; journal.appended's "entry").
 * @typedef {{id: number, at: string, kind: string, author: string, text: string,
 *   corrects?: number | null}} JournalEntry
 */

/**
 * What one event did to the store:
 * - "upsert": the incident is now `incident` (`added`: it was not known before; `applied`:
 *   false when the store held a newer version and kept it);
 * - "patch": a change without a version (a sharing ended for another agency);
 * - "remove": the incident left this member's view (its sharing with the member's agency ended).
 * @typedef {object} Change
 * @property {"upsert" | "patch" | "remove"} kind
 * @property {string} type the event's type
 * @property {number} id
 * @property {Incident | null} incident what the store holds now (null once removed)
 * @property {boolean} added
 * @property {boolean} applied
 * @property {string} [reference] the reference of a removed incident
 */

/** @typedef {{incident: Incident, touched: number}} Entry */

/**
 * A snapshot (REST) may arrive after events that are newer than it: an incident keeps the
 * highest `version` it was seen with, and one that a live event touched while the snapshot was
 * in flight is not dropped.
 */
export class IncidentStore {
  /**
   * @param {{agency?: string | null}} [options] `agency`: the member's agency when it sees only
   *   what is shared with it (portal, a partner's tablet); an unsharing with it removes the incident.
   */
  constructor({ agency = null } = {}) {
    this.agency = agency;
    /** @type {Map<number, Entry>} */
    this.items = new Map();
    this.liveCount = 0;
    this.snapshotSeq = 0;
  }

  /**
   * @param {number} id
   * @returns {Incident | null}
   */
  get(id) {
    const entry = this.items.get(id);
    return entry ? entry.incident : null;
  }

  /** @returns {Incident[]} */
  values() {
    return [...this.items.values()].map((entry) => entry.incident);
  }

  /**
   * A picture of the incident from an event or an answer; an older picture is ignored.
   * @param {Incident} incident
   * @returns {boolean} whether it was taken
   */
  upsert(incident) {
    this.liveCount += 1;
    const known = this.items.get(incident.id);
    if (known && known.incident.version > incident.version) return false;
    this.items.set(incident.id, { incident, touched: this.liveCount });
    return true;
  }

  /**
   * A change that carries no version (unshare): applied to what we hold.
   * @param {number} id
   * @param {Partial<Incident>} change
   */
  patch(id, change) {
    const known = this.items.get(id);
    if (!known) return;
    this.liveCount += 1;
    known.incident = { ...known.incident, ...change };
    known.touched = this.liveCount;
  }

  /** @param {number} id */
  remove(id) {
    this.liveCount += 1;
    this.items.delete(id);
  }

  /**
   * `fetchItems()` → the incidents; answers whether this snapshot was applied (false when a
   * newer snapshot was asked for meanwhile).
   * @param {() => Promise<Incident[]>} fetchItems
   */
  async loadSnapshot(fetchItems) {
    const seq = ++this.snapshotSeq;
    const startedAt = this.liveCount;
    const items = await fetchItems();
    if (seq !== this.snapshotSeq) return false;
    const previous = new Map(this.items);
    this.items.clear();
    for (const incident of items) this.items.set(incident.id, { incident, touched: 0 });
    for (const [id, entry] of previous) {
      // What a live event told us after the request left is at least as fresh as the snapshot.
      if (entry.touched > startedAt) {
        const fresh = this.items.get(id);
        if (!fresh || fresh.incident.version <= entry.incident.version) this.items.set(id, entry);
      }
    }
    return true;
  }

  /**
   * The reducer: one event frame applied to the store. Answers what changed, or null when the
   * frame is not about an incident this store holds (journal lines, radio, cameras…).
   * @param {{type: string, data?: any}} frame
   * @returns {Change | null}
   */
  apply(frame) {
    const data = frame.data || {};
    switch (frame.type) {
      case "incident.created":
      case "incident.updated":
      case "incident.shared": {
        /** @type {Incident} */
        const incident = data.incident;
        if (!incident) return null; // incident.shared told to another agency: who shares only
        const added = !this.items.has(incident.id);
        const applied = this.upsert(incident);
        return { kind: "upsert", type: frame.type, id: incident.id, incident: this.get(incident.id), added, applied };
      }
      case "incident.unshared": {
        /** @type {number} */
        const id = data.incident_id;
        if (this.agency !== null && data.agency === this.agency) {
          // No longer ours: it leaves the screen.
          const known = this.items.has(id);
          this.remove(id);
          return { kind: "remove", type: frame.type, id, incident: null, added: false, applied: known,
            reference: data.reference };
        }
        const known = this.get(id);
        if (!known) return null;
        this.patch(id, { shared_with: known.shared_with.filter((code) => code !== data.agency) });
        return { kind: "patch", type: frame.type, id, incident: this.get(id), added: false, applied: true };
      }
      default:
        return null;
    }
  }
}

/**
 * Newest first; not a string comparison: the offset of a time may differ (+01:00 in winter,
 * +02:00 in summer, or Z).
 * @param {Incident} a
 * @param {Incident} b
 */
export function byNewest(a, b) {
  return Date.parse(b.created_at) - Date.parse(a.created_at) || b.id - a.id;
}

/**
 * The incident's fields of a detailed answer (GET /api/incidents/<id>/), without its journal
 * and cameras: what the store keeps.
 * @param {Incident & {journal?: unknown, cameras?: unknown, suggested_cameras?: unknown}} detail
 * @returns {Incident}
 */
export function incidentOf(detail) {
  const { journal, cameras, suggested_cameras: suggested, ...incident } = detail;
  return incident;
}
