// Interface text: Vietnamese first, English fallback. Chosen by ?lang=, the saved switch, or navigator.language.
import { STRINGS } from "./strings.js";

const STORAGE_KEY = "giaoban.lang";
export const LANGUAGES = ["vi", "en"];

function initialLanguage() {
  const fromUrl = new URLSearchParams(location.search).get("lang");
  if (LANGUAGES.includes(fromUrl)) return fromUrl;
  const saved = localStorage.getItem(STORAGE_KEY);
  if (LANGUAGES.includes(saved)) return saved;
  const nav = (navigator.language || "vi").toLowerCase();
  return nav.startsWith("vi") ? "vi" : nav.startsWith("en") ? "en" : "vi";
}

let current = initialLanguage();

export function lang() {
  return current;
}

export function setLang(value) {
  if (!LANGUAGES.includes(value)) return;
  current = value;
  localStorage.setItem(STORAGE_KEY, value);
  document.documentElement.lang = value;
}

/** The string for key in the current language (then Vietnamese, then the key), with {name} filled in. */
export function t(key, params = {}) {
  const text = (STRINGS[current] && STRINGS[current][key]) ?? STRINGS.vi[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : `{${name}}`));
}

/** A date-time shown in the interface language, in the browser's time zone. */
export function formatDateTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleString(current === "vi" ? "vi-VN" : "en-GB", {
    dateStyle: "short",
    timeStyle: "short",
  });
}

export function formatDate(iso) {
  if (!iso) return "—";
  const d = new Date(iso.length === 10 ? iso + "T00:00:00" : iso);
  return d.toLocaleDateString(current === "vi" ? "vi-VN" : "en-GB");
}

document.documentElement.lang = current;
