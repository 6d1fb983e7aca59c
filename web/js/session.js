// Who is logged in (GET /api/auth/me), cached for the page's lifetime.
import { api } from "./api.js";

let me = null;

export async function loadMe() {
  try {
    me = await api.get("/api/auth/me");
  } catch {
    me = null;
  }
  return me;
}

export function currentUser() {
  return me;
}

export function clearMe() {
  me = null;
}

/** Chair, clerk or admin: may schedule meetings for their unit. */
export function canSchedule(user) {
  return !!user && ["admin", "chair", "clerk"].includes(user.role);
}

/** Chair or admin: may start and end a meeting of their unit. */
export function canStartEnd(user, meeting) {
  if (!user) return false;
  if (user.role === "admin") return true;
  return user.role === "chair" && (!meeting || meeting.chair_unit === user.unit);
}

export function canManage(user, meeting) {
  if (!user) return false;
  if (user.role === "admin") return true;
  return ["chair", "clerk"].includes(user.role) && (!meeting || meeting.chair_unit === user.unit);
}
