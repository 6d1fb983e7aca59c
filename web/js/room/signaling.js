// The signaling WebSocket /ws/meetings/{id}: typed JSON messages, ping RTT, reconnect with backoff.
// On a site of several processes the server may answer `redirect` (the meeting's node) and close with 4307:
// the socket is opened again there with a fresh ticket. A reconnect after a drop starts from this page's
// server again, which sends the client to the meeting's node (a new one if the old node died).
// Each connection opens with a one-use ticket (POST /api/auth/ws-ticket, valid 30 s): the session token never
// appears in a URL. The server closes with 4401 when the login session ends (logout elsewhere, expiry).
import { api } from "../api.js";

export const CLOSE = {
  ENDED: 4000,
  REPLACED: 4001,
  BAD_MESSAGE: 4400,
  UNAUTHENTICATED: 4401,
  FORBIDDEN: 4403,
  NOT_FOUND: 4404,
  NOT_LIVE: 4409,
  REMOVED: 4410,
  TOO_MANY: 4429,
  REDIRECT: 4307,
  TRY_AGAIN: 1013,
};

// Close codes after which reconnecting would be refused again (or is unwanted).
const FINAL_CODES = new Set([
  CLOSE.ENDED, CLOSE.REPLACED, CLOSE.BAD_MESSAGE, CLOSE.UNAUTHENTICATED, CLOSE.FORBIDDEN,
  CLOSE.NOT_FOUND, CLOSE.NOT_LIVE, CLOSE.REMOVED, CLOSE.TOO_MANY, 1000,
]);

const BACKOFF_START_MS = 500;
const BACKOFF_MAX_MS = 8000;
const PING_INTERVAL_MS = 5000;
const MAX_REDIRECTS = 3;

/** The socket URL with its ticket: on this page's server, or on the node a `redirect` named. */
export function socketUrl(meetingId, ticket, nodeUrl = null) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const base = nodeUrl || `${scheme}//${location.host}/ws/meetings/${meetingId}`;
  return `${base}?ticket=${encodeURIComponent(ticket)}`;
}

/** A one-use socket ticket; a refusal rejects like a socket close (401 → 4401, final; a network error retries). */
async function socketTicket() {
  try {
    const { ticket } = await api.post("/api/auth/ws-ticket");
    return ticket;
  } catch (err) {
    const code = err.status === 401 ? CLOSE.UNAUTHENTICATED : 0;
    throw Object.assign(new Error(err.message), { code, error: { code: err.code, message: err.message } });
  }
}

export class Signaling extends EventTarget {
  constructor(meetingId, { reconnect = true } = {}) {
    super();
    this.meetingId = meetingId;
    this.reconnect = reconnect;
    this.ws = null;
    this.closedByUs = false;
    this.attempt = 0;
    this.rttMs = null;
    this._pingSentAt = null;
    this._pingTimer = null;
    this._retryTimer = null;
    this.lastError = null;
  }

  /** Open the socket; resolves on `welcome`, rejects on an error/close before it. */
  async connect(nodeUrl = null, redirects = 0) {
    this.closedByUs = false;
    const ticket = await socketTicket();
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(socketUrl(this.meetingId, ticket, nodeUrl));
      this.ws = ws;
      let welcomed = false;
      let redirectTo = null;
      ws.onmessage = (event) => {
        let msg;
        try {
          msg = JSON.parse(event.data);
        } catch {
          return;
        }
        if (msg.type === "pong" && this._pingSentAt !== null) {
          this.rttMs = performance.now() - this._pingSentAt;
          this._pingSentAt = null;
        }
        if (msg.type === "error") this.lastError = msg;
        if (msg.type === "redirect" && !welcomed) {
          redirectTo = msg.url;
          return;
        }
        if (msg.type === "welcome" && !welcomed) {
          welcomed = true;
          this.attempt = 0;
          // roll-call changes then come one entry at a time (roll_call_entry), not as the whole list
          ws.send(JSON.stringify({ type: "hello", features: ["roll_call_delta"] }));
          this._startPing();
          resolve(msg);
        }
        this.dispatchEvent(new CustomEvent("message", { detail: msg }));
        this.dispatchEvent(new CustomEvent(msg.type, { detail: msg }));
      };
      ws.onclose = (event) => {
        this._stopPing();
        if (this.ws !== ws) return;
        if (!welcomed && redirectTo && event.code === CLOSE.REDIRECT && redirects < MAX_REDIRECTS && !this.closedByUs) {
          this.connect(redirectTo, redirects + 1).then(resolve, reject); // the meeting's node
          return;
        }
        this.dispatchEvent(new CustomEvent("close", { detail: { code: event.code, reason: event.reason, error: this.lastError } }));
        if (!welcomed) {
          reject(Object.assign(new Error((this.lastError && this.lastError.message) || event.reason || "closed"), { code: event.code, error: this.lastError }));
        }
        if (!this.closedByUs && this.reconnect && welcomed && !FINAL_CODES.has(event.code)) this._scheduleReconnect();
      };
    });
  }

  _scheduleReconnect() {
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** this.attempt) * (0.75 + Math.random() * 0.5);
    this.attempt += 1;
    this.dispatchEvent(new CustomEvent("reconnecting", { detail: { attempt: this.attempt, delayMs: Math.round(delay) } }));
    this._retryTimer = setTimeout(async () => {
      try {
        const welcome = await this.connect();
        this.dispatchEvent(new CustomEvent("reconnected", { detail: welcome }));
      } catch (err) {
        if (!this.closedByUs && this.reconnect && !FINAL_CODES.has(err.code)) this._scheduleReconnect();
        else this.dispatchEvent(new CustomEvent("failed", { detail: err }));
      }
    }, delay);
  }

  _startPing() {
    this._stopPing();
    this.ping();
    this._pingTimer = setInterval(() => this.ping(), PING_INTERVAL_MS);
  }

  _stopPing() {
    if (this._pingTimer) clearInterval(this._pingTimer);
    this._pingTimer = null;
  }

  ping() {
    this._pingSentAt = performance.now();
    this.send({ type: "ping" });
  }

  /** One ping → pong round trip in milliseconds. */
  measureRtt(timeoutMs = 3000) {
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const timer = setTimeout(() => {
        this.removeEventListener("pong", onPong);
        reject(new Error("timeout"));
      }, timeoutMs);
      const onPong = () => {
        clearTimeout(timer);
        this.removeEventListener("pong", onPong);
        resolve(performance.now() - started);
      };
      this.addEventListener("pong", onPong);
      this.send({ type: "ping" });
    });
  }

  get open() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  send(msg) {
    if (this.open) this.ws.send(JSON.stringify(msg));
  }

  /** Simulate/handle a network drop: close the socket as if the network failed (reconnect follows). */
  drop() {
    if (this.ws) this.ws.close(4999, "network drop");
  }

  close(code = 1000) {
    this.closedByUs = true;
    clearTimeout(this._retryTimer);
    this._stopPing();
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(code);
  }
}
