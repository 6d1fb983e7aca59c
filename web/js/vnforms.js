// Form controls that read the same in every browser: dates typed as dd/mm/yyyy, times as 24-hour hh:mm, and a
// file picker whose text is ours (the browser's own date, time and file controls speak the browser's language
// and show 12-hour clocks or mm/dd/yyyy under an English locale).
import { h } from "./dom.js";
import { t } from "./i18n.js";

const pad2 = (n) => String(n).padStart(2, "0");

/** "01/12/2026" (also 1/12/2026, 01-12-2026, 01.12.2026) → "2026-12-01"; null when not a real day. */
export function parseDmy(text) {
  const m = /^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s*$/.exec(text || "");
  if (!m) return null;
  const [day, month, year] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const d = new Date(year, month - 1, day);
  if (d.getFullYear() !== year || d.getMonth() !== month - 1 || d.getDate() !== day) return null;
  return `${year}-${pad2(month)}-${pad2(day)}`;
}

/** "2026-12-01" (or a full ISO date-time, read in local time) → "01/12/2026". */
export function isoToDmy(iso) {
  if (!iso) return "";
  const d = iso.length === 10 ? new Date(iso + "T00:00:00") : new Date(iso);
  return `${pad2(d.getDate())}/${pad2(d.getMonth() + 1)}/${d.getFullYear()}`;
}

/** "8:5", "08:05", "8h05" → "08:05"; null when not a time of day. */
export function parseHm(text) {
  const m = /^\s*(\d{1,2})\s*[:hg.]\s*(\d{2})\s*$/i.exec(text || "");
  if (!m) return null;
  const [hh, mm] = [Number(m[1]), Number(m[2])];
  if (hh > 23 || mm > 59) return null;
  return `${pad2(hh)}:${pad2(mm)}`;
}

/** A text input for a day, typed as dd/mm/yyyy. */
export function dateInput(id, iso, label, attrs = {}) {
  return h(`input#${id}.date-input`, {
    type: "text", inputmode: "numeric", autocomplete: "off", maxlength: 10, placeholder: t("date.hint"),
    value: isoToDmy(iso), "aria-label": label, ...attrs,
  });
}

/** A text input for a time of day, typed as 24-hour hh:mm. */
export function timeInput(id, hm, label, attrs = {}) {
  return h(`input#${id}.time-input`, {
    type: "text", inputmode: "numeric", autocomplete: "off", maxlength: 5, placeholder: "hh:mm",
    value: hm || "", "aria-label": label, ...attrs,
  });
}

/**
 * A file picker with our own button and text ("Chọn tệp", "Chưa chọn tệp"): the native input stays in the page
 * (labelled, reachable by keyboard and by tests) but is drawn as our button.
 */
export function filePicker(input) {
  const status = h("span.small.muted.file-status", { "aria-live": "polite" }, t("file.none"));
  input.classList.add("file-native");
  input.addEventListener("change", () => {
    const names = [...input.files].map((f) => f.name);
    status.textContent = names.length ? t("file.count", { n: names.length, names: names.join(", ") }) : t("file.none");
  });
  const button = h("label.btn.small.file-button", { for: input.id }, t("file.choose"));
  return h("div.file-picker", {}, input, button, status);
}
