// HTTP client for /api: the session cookie is httpOnly, so every call simply sends credentials.
import { t } from "./i18n.js";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

async function request(method, path, body, { form = false } = {}) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    if (form) {
      init.body = body;
    } else {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "network", t("error.network"), String(err));
  }
  if (res.status === 204) return null;
  const type = res.headers.get("content-type") || "";
  const data = type.includes("application/json") ? await res.json() : await res.text();
  if (!res.ok) {
    const e = data && data.error ? data.error : { code: "http_" + res.status, message: t("error.http", { status: res.status }) };
    throw new ApiError(res.status, e.code, e.message, e.details);
  }
  return data;
}

export const api = {
  get: (path) => request("GET", path),
  post: (path, body) => request("POST", path, body),
  patch: (path, body) => request("PATCH", path, body),
  put: (path, body) => request("PUT", path, body),
  upload: (path, formData) => request("POST", path, formData, { form: true }),
};

/** Whether a route exists on this server (teammates add routes over time): 404/405 with no JSON → false. */
const GENERIC_404 = "Không tìm thấy.";

/** A 404 for a route the server does not have yet (not an unknown id). */
export function isMissingRoute(err) {
  return err instanceof ApiError && err.status === 404 && err.details == null && err.message === GENERIC_404;
}

export async function routeExists(path) {
  try {
    const res = await fetch(path, { method: "GET", credentials: "same-origin" });
    if (res.status === 404) {
      const type = res.headers.get("content-type") || "";
      if (!type.includes("application/json")) return false;
      const data = await res.json();
      // the app's generic 404 (no such route) has no details; a service's NotFound names what is missing
      return !(data && data.error && data.error.details === null && data.error.message === GENERIC_404);
    }
    return res.status !== 405;
  } catch {
    return false;
  }
}
