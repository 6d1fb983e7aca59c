// Interface text: Vietnamese first, English fallback. Chosen by ?lang= or the saved switch; never by the browser's
// own language (an official's laptop set to English still gets Vietnamese until English is chosen).
import { STRINGS } from "./strings.js";

const STORAGE_KEY = "giaoban.lang";
export const LANGUAGES = ["vi", "en"];

function initialLanguage() {
  const fromUrl = new URLSearchParams(location.search).get("lang");
  if (LANGUAGES.includes(fromUrl)) return fromUrl;
  const saved = localStorage.getItem(STORAGE_KEY);
  if (LANGUAGES.includes(saved)) return saved;
  return "vi";
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

const pad2 = (n) => String(n).padStart(2, "0");

/** "01/12/2026": day/month/four-digit year, whatever the browser's locale. */
function dmy(d) {
  return `${pad2(d.getDate())}/${pad2(d.getMonth() + 1)}/${d.getFullYear()}`;
}

/** "08:00 01/12/2026" (24-hour clock, day/month/year), in the browser's time zone. */
export function formatDateTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())} ${dmy(d)}`;
}

export function formatDate(iso) {
  if (!iso) return "—";
  return dmy(new Date(iso.length === 10 ? iso + "T00:00:00" : iso));
}

/** 28.6 → "28,6 %" in Vietnamese (decimal comma, a space before the sign); "28.6 %" in English. */
export function formatPercent(value) {
  const text = Number(value || 0).toFixed(1);
  return `${current === "vi" ? text.replace(".", ",") : text} %`;
}

document.documentElement.lang = current;
