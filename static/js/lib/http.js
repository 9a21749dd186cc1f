// @ts-check
/*
 * Calling the hub: JSON in and out, the session's CSRF token on every write (or a bearer
 * token, for a program), the hub's own French refusals, and keys for writes a flaky network
 * may make us repeat.
 */

/**
 * A cookie of the page's origin ("" when absent).
 * @param {string} name
 */
export function cookie(name) {
  const prefix = `${name}=`;
  const found = document.cookie.split("; ").find((part) => part.startsWith(prefix));
  return found ? decodeURIComponent(found.slice(prefix.length)) : "";
}

/**
 * The headers that let a write through: the bearer token when one is given, else the session's
 * CSRF token (Django checks it on every unsafe method of a session).
 * @param {string | null} [token]
 * @returns {Record<string, string>}
 */
export function authHeaders(token = null) {
  return token ? { Authorization: `Bearer ${token}` } : { "X-CSRFToken": cookie("csrftoken") };
}

/** The page's own words when the network, not the hub, answered. */
export const UNREACHABLE = "Serveur injoignable : vérifiez le réseau, puis recommencez.";

/**
 * The hub's `detail` as one text: a sentence as it is, every field's messages joined ("" when
 * there is none). The hub says it in French; it is never reworded here.
 * @param {unknown} detail
 */
export function detailText(detail) {
  if (!detail) return "";
  if (typeof detail === "object" && !Array.isArray(detail)) return Object.values(detail).flat().map(String).join(" ");
  return [].concat(detail).map(String).join(" ");
}

/**
 * The hub's refusal as it says it (detailText). Only what the hub could not say itself is the
 * page's own: an answer without a detail, a session that ended.
 * @param {number} status
 * @param {unknown} data the body of the answer, when it was JSON
 */
export function describeError(status, data) {
  const detail = data && typeof data === "object" ? /** @type {{detail?: unknown}} */ (data).detail : undefined;
  if (status === 401) return "Session expirée : rechargez la page pour vous reconnecter.";
  if (detail) return detailText(detail);
  if (status === 403) return "Vos droits ne permettent pas cette action.";
  return status >= 500 ? `Erreur du serveur (${status}) : réessayez dans un instant.` : `Erreur ${status}.`;
}

/** A refused or failed call: `status` 0 when the network failed, `code` the hub's `error`. */
export class ApiError extends Error {
  /**
   * @param {string} message French, for people
   * @param {number} status
   * @param {string | null} [code]
   */
  constructor(message, status, code = null) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * @typedef {object} CallOptions
 * @property {string} [method]
 * @property {unknown} [body] sent as JSON
 * @property {Record<string, string>} [headers]
 * @property {string | null} [token] a bearer token instead of the session (programs, tests)
 * @property {(response: Response) => void} [onResponse] sees every answer (its Date, say)
 */

/**
 * Calls the hub and answers its JSON; throws an ApiError with the hub's French detail.
 * @param {string} url
 * @param {CallOptions} [options]
 * @returns {Promise<any>} the JSON the endpoint documents (each caller knows its shape)
 */
export async function api(url, { method = "GET", body, headers: extra = {}, token = null, onResponse } = {}) {
  /** @type {Record<string, string>} */
  const headers = { Accept: "application/json", ...extra };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) Object.assign(headers, authHeaders(token));
  else if (method !== "GET" || body !== undefined) Object.assign(headers, authHeaders());
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(UNREACHABLE, 0, "network");
  }
  if (onResponse) onResponse(response);
  const data = await response.json().catch(() => /** @type {any} */ (null));
  if (!response.ok) {
    throw new ApiError(describeError(response.status, data), response.status, data && data.error);
  }
  return data;
}

/** A key for a write a flaky network may make us repeat (the hub answers the repeat once more). */
export function idempotencyKey() {
  if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
  return `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}
