// Tiny DOM helpers: build elements without innerHTML (no injection of server text).

/**
 * h("button.primary", {onclick, "aria-label": "..."}, "text", child...)
 * The tag may carry classes after dots and one id after '#', in any order: "div#room.grid", "button.tool#mic".
 */
export function h(tag, attrs = {}, ...children) {
  const parts = tag.match(/^[a-z0-9-]+|[.#][\w-]+/gi) || [];
  const el = document.createElement(parts[0] && /^[a-z]/i.test(parts[0]) ? parts[0] : "div");
  const classes = parts.filter((p) => p[0] === ".").map((p) => p.slice(1));
  const id = parts.find((p) => p[0] === "#");
  if (id) el.id = id.slice(1);
  if (classes.length) el.className = classes.join(" ");
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "style" && typeof value === "object") {
      Object.assign(el.style, value);
    } else if (key in el && typeof value !== "string") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace all children of el. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Text with the <mark>...</mark> of a search snippet turned into real <mark> elements; all else is text. */
export function marked(snippet) {
  const out = [];
  const re = /<mark>(.*?)<\/mark>/gs;
  let last = 0;
  let m;
  while ((m = re.exec(snippet)) !== null) {
    if (m.index > last) out.push(snippet.slice(last, m.index));
    out.push(h("mark", {}, m[1]));
    last = re.lastIndex;
  }
  if (last < snippet.length) out.push(snippet.slice(last));
  return out;
}

/** "01:02:03" or "02:03" from seconds. */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds || 0));
  const hh = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
}
