// The minutes card of the record page: the clerk writes the minutes (form 1.9) per agenda item, prefilled
// from the corrected transcript; every pause in typing saves a new version (the history keeps them all) and
// says "Đã lưu"; a draft made before the latest transcript or conclusion edits is flagged; the chair approves
// and signs exactly the version shown, after a confirmation that names it.
import { api, isMissingRoute } from "../api.js";
import { h, mount } from "../dom.js";
import { formatDateTime, t } from "../i18n.js";
import { minutesPreview } from "./minutes_preview.js";
import "./minutes_strings.js";

const AUTOSAVE_MS = 1200;

/** The chair of the chairing unit: the only one whose approval the server accepts (the seal is theirs). */
export function canApprove(user, meeting) {
  return !!user && user.role === "chair" && user.unit === meeting.chair_unit;
}

function hhmm(date) {
  return `${String(date.getHours()).padStart(2, "0")}:${String(date.getMinutes()).padStart(2, "0")}`;
}

/**
 * Draws the minutes card into ``box``; ``editor``: the user may write the minutes (chair or clerk of the
 * chairing unit). Returns ``{ reload }`` (draw again from the server, e.g. after the transcript changed).
 */
export function minutesCard({ box, meetingId, meeting, user, editor }) {
  let doc = null; // the version shown (or the preview)
  let timer = null;
  let saving = null; // the save in flight
  let dirty = false;
  let editing = false; // a sealed version's text opened to write a new version
  const approver = canApprove(user, meeting);

  const saveState = h("p.small.save-state", { role: "status", "aria-live": "polite", "data-testid": "minutes-save-state" });
  const dialog = h("dialog.report-dialog", { "aria-labelledby": "approve-h", "data-testid": "approve-dialog" });
  const head = h("div.card-head");
  const notes = h("div.minutes-notes");
  const actions = h("div.actions");
  const body = h("div.minutes-body");
  const preview = h("div.minutes-preview-wrap");
  const history = h("details.minutes-history", {}, h("summary", {}, t("minutes.history")));

  function versionLabel(d) {
    return d.version !== null ? ` · ${t("minutes.version", { n: d.version })}` : "";
  }

  function drawHead() {
    mount(head, h("h2#min-h", {}, t("minutes.title")),
      h("span.badge", { "data-status": doc.status, "data-testid": "minutes-status" }, t("minutes.status." + doc.status), versionLabel(doc)));
  }

  function drawNotes() {
    const parts = [];
    if (doc.sealed_at) parts.push(h("p.small.ok-text", {}, t("minutes.sealed", { at: formatDateTime(doc.sealed_at), by: doc.sealed_by || "" })));
    if (doc.stale && doc.status === "draft") {
      const when = doc.changed_at ? t("minutes.stale_when", { at: formatDateTime(doc.changed_at) }) : "";
      parts.push(h("div.alert.warn", { role: "alert", "data-testid": "minutes-stale" }, t("minutes.stale", { n: doc.version, when }),
        editor ? h("div", {}, h("button.btn.small", { type: "button", onclick: regenerate }, t("minutes.regenerate"))) : null));
    }
    mount(notes, parts);
  }

  function drawActions() {
    const version = doc.version !== null ? `?version=${doc.version}` : "";
    const approve = approver && doc.status === "draft"
      ? h("button.btn.success.small", { type: "button", "data-testid": "minutes-approve", onclick: openApprove }, t("minutes.approve_version", { n: doc.version }))
      : null;
    const fresh = editor && doc.status === "sealed" && !editing
      ? h("button.btn.small", { type: "button", onclick: () => { editing = true; drawBody(); } }, t("minutes.new_version"))
      : null;
    const rebuild = editor && doc.status !== "sealed" && !doc.stale
      ? h("button.btn.small.ghost", { type: "button", onclick: regenerate }, t("minutes.regenerate"))
      : null;
    mount(actions,
      h("a.btn.small", { href: `/api/meetings/${meetingId}/minutes.docx${version}`, download: "", "aria-label": t("minutes.docx") }, "DOCX"),
      h("a.btn.small", { href: `/api/meetings/${meetingId}/minutes.pdf${version}`, download: "", "aria-label": t("minutes.pdf") }, "PDF"),
      rebuild, fresh, approve);
  }

  function drawBody() {
    if (!editor || !doc.editable || !doc.editable.length || (doc.status === "sealed" && !editing)) {
      mount(body);
      return;
    }
    const fields = doc.editable.map((item, i) => {
      const id = `min-item-${i}`;
      return h("div.field", {},
        h("label", { for: id }, t("minutes.item_label", { n: i + 1, title: item.title })),
        h("textarea.minutes-item", { id, rows: Math.min(14, Math.max(4, item.text.split("\n").length + 1)), "data-testid": "minutes-item", oninput: changed }, item.text));
    });
    const closing = h("textarea#min-closing.minutes-closing", { rows: 2, oninput: changed }, (doc.document || {}).closing_note || "");
    mount(body, h("form.form.minutes-editor", { "aria-label": t("minutes.editor"), onsubmit: (e) => e.preventDefault() },
      h("h3", {}, t("minutes.editor")), h("p.small.muted", {}, t("minutes.editor_hint")),
      fields,
      h("div.field", {}, h("label", { for: "min-closing" }, t("minutes.closing_note")), closing)),
    saveState);
  }

  function drawPreview() {
    mount(preview, minutesPreview(doc.document || {}));
  }

  async function drawHistory() {
    if (doc.version === null) {
      history.hidden = true;
      return;
    }
    let versions;
    try {
      versions = await api.get(`/api/meetings/${meetingId}/minutes/versions`);
    } catch {
      return;
    }
    history.hidden = false;
    mount(history, h("summary", {}, t("minutes.history")),
      h("ol.small", { "data-testid": "minutes-history" }, versions.slice().reverse().map((v) => h("li", {},
        t("minutes.history_item", { n: v.version, at: formatDateTime(v.sealed_at || v.created_at), by: v.sealed_by || v.created_by || "—" }),
        " · ", t("minutes.status." + v.status),
        " · ", h("a", { href: `/api/meetings/${meetingId}/minutes.pdf?version=${v.version}`, download: "" }, "PDF")))));
  }

  function drawAll() {
    drawHead();
    drawNotes();
    drawActions();
    drawBody();
    drawPreview();
    drawHistory();
  }

  function changed() {
    dirty = true;
    saveState.textContent = t("minutes.unsaved");
    saveState.dataset.state = "dirty";
    clearTimeout(timer);
    timer = setTimeout(save, AUTOSAVE_MS);
  }

  async function save() {
    clearTimeout(timer);
    if (saving) {
      await saving;
      if (!dirty) return;
    }
    dirty = false;
    const items = [...body.querySelectorAll("textarea.minutes-item")].map((el) => el.value);
    const closing = body.querySelector("#min-closing");
    saveState.textContent = t("minutes.saving");
    saveState.dataset.state = "saving";
    saving = api.post(`/api/meetings/${meetingId}/minutes/drafts`, { based_on: doc.version, items, closing_note: closing ? closing.value : "" })
      .then((saved) => {
        doc = saved;
        editing = false;
        saveState.textContent = t("minutes.saved", { n: saved.version, at: hhmm(new Date()) });
        saveState.dataset.state = "saved";
        drawHead();
        drawNotes();
        drawActions();
        drawPreview();
        drawHistory();
      })
      .catch((err) => {
        dirty = true;
        saveState.dataset.state = "error";
        if (err.code === "draft_outdated") {
          mount(saveState, t("minutes.outdated"), " ", h("button.btn.tiny", { type: "button", onclick: reload }, t("minutes.reload")));
        } else {
          saveState.textContent = t("minutes.save_failed", { msg: err.message });
        }
      })
      .finally(() => { saving = null; });
    await saving;
  }

  async function regenerate() {
    try {
      doc = await api.post(`/api/meetings/${meetingId}/minutes`, {});
      editing = false;
      drawAll();
    } catch (err) {
      mount(notes, h("div.alert.error", { role: "alert" }, err.message));
    }
  }

  async function openApprove() {
    if (dirty || saving) {
      await save();
      if (dirty) return; // the save failed: its message is shown
    }
    const shown = doc;
    const error = h("div.alert.error", { role: "alert", hidden: true });
    const confirmBtn = h("button.btn.success", { type: "button", "data-testid": "approve-confirm", disabled: !!shown.stale, onclick: () => approve(shown, error) },
      t("minutes.approve_confirm", { n: shown.version }));
    const ack = shown.stale
      ? h("label.check", {}, h("input#approve-stale", { type: "checkbox", onchange: (e) => { confirmBtn.disabled = !e.target.checked; } }),
        " ", t("minutes.approve_stale", { n: shown.version }))
      : null;
    mount(dialog, h("div.form", {},
      h("h2#approve-h", {}, t("minutes.approve_title")),
      h("p", {}, t("minutes.approve_question", { n: shown.version })),
      ack, error,
      h("div.form-actions", {}, h("button.btn.ghost", { type: "button", onclick: () => dialog.close() }, t("common.cancel")), confirmBtn)));
    dialog.showModal();
  }

  async function approve(shown, error) {
    try {
      doc = await api.post(`/api/meetings/${meetingId}/minutes/${shown.version}/approve`, { confirm_stale: !!shown.stale });
      dialog.close();
      editing = false;
      drawAll();
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    }
  }

  async function reload() {
    try {
      doc = await api.get(`/api/meetings/${meetingId}/minutes`);
    } catch (err) {
      mount(box, h("h2#min-h", {}, t("minutes.title")), h("p.muted", {}, isMissingRoute(err) ? t("minutes.unavailable") : err.message));
      return;
    }
    if (dirty || saving) return; // never throw away what is being typed; the next save answers for it
    dirty = false;
    saveState.textContent = "";
    drawAll();
  }

  mount(box, head, notes, actions, body, preview, history, dialog);
  return {
    reload,
    /** Redraw only the flags (stale, version) without touching the editor: the data under it changed. */
    async refreshFlags() {
      if (dirty || saving || !doc || doc.version === null) return reload();
      try {
        const latest = await api.get(`/api/meetings/${meetingId}/minutes`);
        if (latest.version !== doc.version) return reload();
        doc = latest;
        drawHead();
        drawNotes();
        drawActions();
      } catch {
        // the card keeps what it shows
      }
    },
  };
}
