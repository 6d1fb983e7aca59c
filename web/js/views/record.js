// After the meeting: the transcript beside the recording (click a line to play from there; the current line
// follows playback), speakers by unit, the clerk's edit mode, transcription progress; minutes and tasks.
import { api, isMissingRoute } from "../api.js";
import { clock, h, mount } from "../dom.js";
import { formatDate, formatDateTime, t } from "../i18n.js";
import { minutesCard } from "./minutes_editor.js";
import { recordingFiles } from "./record_tracks.js";
import { recordAgenda } from "./record_agenda.js";
import { composedVideo } from "./record_video.js";
import { canManage } from "../session.js";
import { statusBadge } from "./meetings.js";
import { dateInput, parseDmy } from "../vnforms.js";

const POLL_MS = 3000;
const AUDIO_RETRY_MS = 5000;

// An error said where it happened (no browser dialog): a line right after `anchor` (role="alert"), the control
// itself marked invalid; cleared by the next attempt.
function inlineError(anchor, message) {
  let box = anchor.nextElementSibling;
  if (!box || !box.classList.contains("inline-error")) {
    box = h("div.alert.error.small.inline-error", { role: "alert", "data-testid": "inline-error" });
    anchor.after(box);
  }
  box.textContent = message;
  if (anchor.matches("input, select, textarea")) anchor.setAttribute("aria-invalid", "true");
  return box;
}

function clearError(anchor) {
  const box = anchor.nextElementSibling;
  if (box && box.classList.contains("inline-error")) box.remove();
  anchor.removeAttribute("aria-invalid");
}

export async function render({ main, params, query, user }) {
  const meetingId = Number(params[0]);
  const meeting = await api.get(`/api/meetings/${meetingId}`);
  const startAt = Number(query.get("t") || "NaN");
  const editor = canManage(user, meeting);
  const unitNames = new Map([[meeting.chair_unit, meeting.chair_unit_name], ...meeting.roll_call.map((r) => [r.unit, r.unit_name])]);
  const unitName = (code) => (code ? unitNames.get(code) || code : "—");
  let segments = [];
  let editing = false;
  let pollTimer = null;
  let events = null;

  // A meeting recorded with video plays its composed MP4 in a <video> (the mixed audio until it is made).
  const withVideo = Boolean(meeting.record_video && meeting.record_video !== "none");
  const audio = withVideo
    ? h("video#player", { controls: true, preload: "metadata", playsInline: true, "aria-label": t("record.video_player"),
      style: { width: "100%", maxHeight: "45vh", background: "#000" } })
    : h("audio#player", { controls: true, preload: "metadata", src: `/api/meetings/${meetingId}/recording`,
      "aria-label": t("record.player") });
  const audioNote = h("p.small.muted", { role: "status" });
  const progress = h("div.progress", { hidden: true, "data-testid": "transcript-progress" });
  const composed = withVideo ? composedVideo({ meetingId, player: audio, seek: (s, play) => seek(s, play), unitName }) : null;
  const agenda = recordAgenda({ agenda: meeting.agenda || [], player: audio, seek: (s, play) => seek(s, play) });
  const files = recordingFiles({ meetingId, unitName, mayDownload: (track) => editor || track.unit_code === user.unit });
  const list = h("ol.transcript", { "aria-label": t("record.transcript"), "data-testid": "transcript" });
  const speakers = h("ul.speakers", { "aria-label": t("record.speakers") });
  const unitFilter = h("select#unit-filter", { "aria-label": t("record.filter_unit"), onchange: drawSegments });
  const editBtn = editor ? h("button.btn.small", { type: "button", "aria-pressed": "false", "aria-label": t("record.edit"), onclick: toggleEdit }, t("record.edit")) : null;
  const minutesBox = h("section.card.minutes-card", { "aria-labelledby": "min-h", "data-testid": "minutes-card" });
  const tasksBox = h("section.card", { "aria-labelledby": "tasks-h" });

  // Right after the end the mixed file is still being made (409 "đang xử lý"): say so and try again.
  let audioRetry = null;
  audio.addEventListener("error", async () => {
    if (audio.dataset.source === "video") return; // the composed video's own note says it
    audioNote.textContent = t("record.no_audio");
    audioNote.dataset.state = "none";
    let res;
    try {
      res = await fetch(`/api/meetings/${meetingId}/recording`, { headers: { Range: "bytes=0-0" }, credentials: "same-origin" });
    } catch {
      return;
    }
    if (res.status !== 409) return;
    audioNote.textContent = t("record.audio_processing");
    audioNote.dataset.state = "processing";
    clearTimeout(audioRetry);
    audioRetry = setTimeout(() => {
      if (audio.dataset.source === "video") return;
      audio.src = `/api/meetings/${meetingId}/recording?retry=${Date.now()}`;
      audio.load();
    }, AUDIO_RETRY_MS);
  });
  audio.addEventListener("loadedmetadata", () => {
    audioNote.dataset.state = "ready";
    audioNote.textContent = t("record.duration", { d: clock(audio.duration) });
    if (Number.isFinite(startAt)) seek(startAt, true);
  });
  audio.addEventListener("timeupdate", follow);

  function seek(seconds, play) {
    audio.currentTime = seconds;
    main.dataset.seekedTo = String(seconds);
    if (play) audio.play().catch(() => {});
    follow();
  }

  let currentId = null;
  function follow() {
    const now = audio.currentTime;
    const seg = segments.find((s) => now >= s.start && now < s.end) || null;
    const id = seg ? String(seg.id) : null;
    if (id === currentId) return;
    currentId = id;
    for (const li of list.querySelectorAll("li.current")) { li.classList.remove("current"); li.removeAttribute("aria-current"); }
    if (id) {
      const li = list.querySelector(`li[data-segment-id="${CSS.escape(id)}"]`);
      if (li) {
        li.classList.add("current");
        li.setAttribute("aria-current", "true");
        li.scrollIntoView({ block: "nearest" });
      }
    }
  }

  function toggleEdit() {
    editing = !editing;
    editBtn.setAttribute("aria-pressed", String(editing));
    editBtn.textContent = editing ? t("record.edit_done") : t("record.edit");
    editBtn.setAttribute("aria-label", editBtn.textContent);
    drawSegments();
  }

  async function saveSegment(seg, text, field) {
    clearError(field);
    try {
      const updated = await api.patch(`/api/segments/${seg.id}`, { text });
      seg.text = (updated && updated.text) || text;
      if (updated) Object.assign(seg, { uncertain: updated.uncertain, uncertain_reason: updated.uncertain_reason, edited: updated.edited });
      minutes.refreshFlags(); // a draft made before this correction is now stale
      if (composed) setTimeout(() => composed.load(), 1000); // its subtitles are being made again
    } catch (err) {
      inlineError(field, t("record.line_not_saved", { msg: err.message }));
    }
  }

  // A line the engine doubts (audio lost, maybe not speech, words barely recognised) is kept, greyed, with why
  // and how sure the engine was; the clerk's edit (or "Đúng") settles it.
  function doubtNote(s) {
    if (!s.uncertain) return null;
    const why = t("record.uncertain." + (s.uncertain_reason || "low_confidence"));
    const pct = s.confidence != null ? t("record.confidence", { pct: Math.round(s.confidence * 100) }) : null;
    const confirm = editing && editor
      ? h("button.btn.tiny", { type: "button", "aria-label": t("record.uncertain_confirm_at", { at: clock(s.start) }),
        onclick: (e) => confirmSegment(s, e.currentTarget) }, t("record.uncertain_confirm"))
      : null;
    return h("span.seg-doubt", { "data-testid": "segment-doubt" }, pct ? `${why} · ${pct}` : why, confirm ? " " : null, confirm);
  }

  async function confirmSegment(seg, button) {
    clearError(button);
    try {
      const updated = await api.patch(`/api/segments/${seg.id}`, { uncertain: false });
      Object.assign(seg, { uncertain: updated.uncertain, uncertain_reason: updated.uncertain_reason, edited: updated.edited });
      drawSegments();
      minutes.refreshFlags();
    } catch (err) {
      inlineError(button, err.message);
    }
  }

  function drawSegments() {
    const unit = unitFilter.value;
    const shown = segments.filter((s) => !unit || s.unit === unit);
    mount(list, shown.map((s) => {
      const time = h("button.time", { type: "button", "aria-label": t("record.play_from", { at: clock(s.start) }), onclick: () => seek(s.start, true) }, clock(s.start));
      const text = editing
        ? h("textarea.seg-edit", { rows: 2, "aria-label": t("record.edit_line", { at: clock(s.start) }), onchange: (e) => saveSegment(s, e.target.value, e.target) }, s.text)
        : h("span.seg-text", { onclick: () => seek(s.start, true) }, s.text);
      return h(s.uncertain ? "li.uncertain" : "li", { "data-segment-id": s.id, "data-start": s.start, "data-end": s.end,
        "data-uncertain": s.uncertain ? s.uncertain_reason || "low_confidence" : null },
        time, h("span.who", {}, unitName(s.unit), s.speaker ? ` · ${s.speaker}` : ""), text, doubtNote(s));
    }));
    currentId = null;
    follow();
  }

  function drawSpeakers() {
    const byUnit = new Map();
    for (const s of segments) {
      const key = s.unit || "?";
      const cur = byUnit.get(key) || { name: unitName(s.unit), seconds: 0, lines: 0 };
      cur.seconds += Math.max(0, s.end - s.start);
      cur.lines += 1;
      byUnit.set(key, cur);
    }
    const rows = [...byUnit.entries()].sort((a, b) => b[1].seconds - a[1].seconds);
    mount(speakers, rows.map(([, v]) => h("li", {}, h("span.strong", {}, v.name), " ", h("span.small.muted", {}, `${clock(v.seconds)} · ${v.lines} ${t("record.lines")}`))));
    const current = unitFilter.value;
    mount(unitFilter, h("option", { value: "" }, t("record.all_units")),
      rows.map(([code, v]) => h("option", { value: code, selected: code === current }, v.name)));
  }

  async function loadTranscript() {
    let data;
    try {
      data = await api.get(`/api/meetings/${meetingId}/transcript`);
    } catch (err) {
      progress.hidden = false;
      mount(progress, isMissingRoute(err) ? t("record.transcript_unavailable") : err.message);
      return;
    }
    segments = data.segments || [];
    showProgress(data);
    files.refresh(data);
    drawSpeakers();
    if (!editing || !list.contains(document.activeElement)) drawSegments(); // never under the clerk's typing
    clearTimeout(pollTimer);
    if (awaited(data.status)) followProgress();
  }

  // A transcript still to come: queued or running, or none yet for a recorded meeting that is running or
  // has just ended (the page then updates by itself when the worker starts and finishes).
  function awaited(status) {
    if (["queued", "running"].includes(status)) return true;
    return status === "none" && meeting.record && ["live", "ended"].includes(meeting.status);
  }

  function eta(seconds) {
    if (seconds == null) return "";
    const text = seconds >= 60 ? t("record.eta_min", { n: Math.ceil(seconds / 60) }) : t("record.eta_s", { n: seconds });
    return " · " + t("record.eta", { t: text });
  }

  function showProgress(data) {
    const pct = Math.round((data.progress || 0) * 100);
    progress.dataset.status = data.status;
    if (data.status === "done") {
      progress.hidden = segments.length > 0;
      mount(progress, t("record.transcript_empty"));
    } else if (!["queued", "running"].includes(data.status)) {
      progress.hidden = false;
      mount(progress, h("div", {}, t("record.transcript_status." + data.status, { pct })));
    } else {
      progress.hidden = false;
      mount(progress, h("div", {}, t("record.transcript_status." + data.status, { pct }), h("span.eta", { "data-testid": "transcript-eta" }, eta(data.eta_s))),
        h("div.progress-bar", { role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(pct), "aria-label": t("record.progress") },
          h("div.progress-fill", { style: { width: pct + "%" } })));
    }
  }

  // Progress is pushed by the server (Server-Sent Events); polling is the fallback when the stream fails.
  function followProgress() {
    if (events) return;
    events = new EventSource(`/api/meetings/${meetingId}/transcript/events`);
    events.addEventListener("progress", (ev) => {
      const data = JSON.parse(ev.data);
      if (awaited(data.status)) {
        showProgress(data);
      } else {
        stopFollowing();
        loadTranscript().then(() => minutes.refreshFlags());
      }
    });
    events.onerror = () => {
      stopFollowing();
      pollTimer = setTimeout(loadTranscript, POLL_MS);
    };
  }

  function stopFollowing() {
    if (events) events.close();
    events = null;
  }

  // The conclusions are redrawn after each change there; the minutes card then refreshes its flags (a draft
  // made before the change is stale) without touching what the clerk is typing.
  let sideGeneration = 0;
  async function reloadSide() {
    const generation = ++sideGeneration;
    const draw = await conclusionsView();
    if (generation !== sideGeneration) return;
    draw();
    await minutes.refreshFlags();
  }

  // A success line above the conclusions; it survives their redraw (the same node is mounted again).
  const conclusionFlash = h("div.alert.success", { role: "status", hidden: true, "data-testid": "conclusion-flash" });

  function unitOptions(selected) {
    const units = meeting.roll_call.map((r) => [r.unit, r.unit_name]);
    if (selected && !units.some(([code]) => code === selected)) units.push([selected, unitName(selected)]);
    return [h("option", { value: "" }, "—"), units.map(([code, name]) => h("option", { value: code, selected: code === selected }, name))];
  }

  // The deadline typed as dd/mm/yyyy (a pasted yyyy-mm-dd is read too): "" when left empty, null when not a
  // real day (then said next to it).
  function readDeadline(input) {
    clearError(input);
    if (!input.value.trim()) return "";
    const ymd = /^\s*(\d{4})-(\d{2})-(\d{2})\s*$/.exec(input.value);
    const iso = parseDmy(ymd ? `${ymd[3]}/${ymd[2]}/${ymd[1]}` : input.value);
    if (!iso) {
      inlineError(input, t("date.invalid"));
      input.focus();
    }
    return iso;
  }

  // A refusal of the server said next to the field it names (text, unit, deadline), else under the buttons.
  function refuse(err, fields, fallback) {
    const field = err.details && fields[err.details.field];
    inlineError(field || fallback, err.message);
    if (field) field.focus();
  }

  function conclusionForm() {
    const text = h("textarea#c-text", { rows: 2, required: true, maxlength: 4000, "aria-label": t("conclusion.text") });
    const unit = h("select#c-unit", { "aria-label": t("conclusion.unit") }, unitOptions(""));
    const deadline = dateInput("c-deadline", "", t("conclusion.deadline"));
    const atNow = h("input#c-at", { type: "checkbox", checked: true, "aria-label": t("conclusion.at_player") });
    const actions = h("div.form-actions", {}, h("button.btn.primary.small", { type: "submit", "aria-label": t("conclusion.save") }, t("conclusion.save")));
    async function submit(event) {
      event.preventDefault();
      clearError(text);
      clearError(unit);
      clearError(actions);
      const day = readDeadline(deadline);
      if (day === null) return;
      const body = { text: text.value.trim() };
      if (unit.value) body.assignee_unit = unit.value;
      if (day) body.deadline = day;
      if (atNow.checked && audio.readyState >= 1) body.at_s = Math.round(audio.currentTime * 10) / 10;
      try {
        const made = await api.post(`/api/meetings/${meetingId}/conclusions`, body);
        say(t("conclusion.added_msg", { n: made.number }));
        await reloadSide();
      } catch (err) {
        refuse(err, { text, assignee_unit: unit, deadline }, actions);
      }
    }
    return h("details.conclusion-form", {}, h("summary", {}, t("conclusion.add")),
      h("form.form", { onsubmit: submit, "aria-label": t("conclusion.add") },
        h("div.field", {}, h("label", { for: "c-text" }, t("conclusion.text")), text),
        h("div.form-grid", {},
          h("div.field", {}, h("label", { for: "c-unit" }, t("conclusion.unit")), unit),
          h("div.field", {}, h("label", { for: "c-deadline" }, t("conclusion.deadline")), deadline)),
        h("label.check", {}, atNow, " ", t("conclusion.at_player")),
        actions));
  }

  function say(message) {
    conclusionFlash.textContent = message;
    conclusionFlash.hidden = false;
  }

  // The chair (or clerk) corrects a conclusion in place: text, unit responsible, deadline; save or cancel.
  function editConclusion(li, c, show) {
    conclusionFlash.hidden = true;
    const id = `ce-${c.id}`;
    const text = h(`textarea#${id}-text`, { rows: 3, maxlength: 5000, "aria-label": t("conclusion.text") }, c.text);
    const unit = h(`select#${id}-unit`, { "aria-label": t("conclusion.unit") }, unitOptions(c.assignee_unit || ""));
    const deadline = dateInput(`${id}-deadline`, c.deadline || "", t("conclusion.deadline"));
    const saveBtn = h("button.btn.primary.small", { type: "submit" }, t("conclusion.update"));
    const actions = h("div.form-actions", {},
      h("button.btn.ghost.small", { type: "button", onclick: show }, t("common.cancel")), saveBtn);
    async function submit(event) {
      event.preventDefault();
      for (const el of [text, unit, actions]) clearError(el);
      if (!text.value.trim()) {
        inlineError(text, t("conclusion.text_required"));
        text.focus();
        return;
      }
      const day = readDeadline(deadline);
      if (day === null) return;
      saveBtn.disabled = true;
      try {
        await api.patch(`/api/meetings/${meetingId}/conclusions/${c.id}`,
          { text: text.value.trim(), assignee_unit: unit.value || null, deadline: day || null });
        say(t("conclusion.saved_msg", { n: c.number }));
        await reloadSide();
      } catch (err) {
        saveBtn.disabled = false;
        refuse(err, { text, assignee_unit: unit, deadline }, actions);
      }
    }
    mount(li, h("form.form.conclusion-edit", { onsubmit: submit, "aria-label": t("conclusion.edit_n", { n: c.number }) },
      h("div.field", {}, h("label", { for: `${id}-text` }, t("conclusion.text")), text),
      h("div.form-grid", {},
        h("div.field", {}, h("label", { for: `${id}-unit` }, t("conclusion.unit")), unit),
        h("div.field", {}, h("label", { for: `${id}-deadline` }, t("conclusion.deadline")), deadline)),
      actions));
    text.focus();
  }

  // A conclusion becomes a task for its unit; one without a unit (or deadline) is said next to its buttons.
  async function makeTask(c, row) {
    clearError(row);
    conclusionFlash.hidden = true;
    if (!c.assignee_unit) {
      inlineError(row, t("conclusion.needs_unit", { n: c.number }));
      return;
    }
    try {
      await api.post("/api/tasks", { conclusion_id: c.id, meeting_id: meetingId });
      await reloadSide();
    } catch (err) {
      inlineError(row, err.message);
    }
  }

  function conclusionItem(c, task) {
    const li = h("li", { "data-conclusion-id": c.id });
    function show() {
      const row = h("div.conclusion-actions");
      const toTask = task
        ? h("a.small", { href: `#/tasks?unit=${task.lead_unit}` }, t("minutes.task_made"), " — ", t("tasks.status." + task.status))
        : editor ? h("button.btn.tiny", { type: "button", "aria-label": t("minutes.to_task_n", { n: c.number }), onclick: () => makeTask(c, row) }, t("minutes.to_task")) : null;
      const edit = editor
        ? h("button.btn.tiny.ghost", { type: "button", "aria-label": t("conclusion.edit_n", { n: c.number }), onclick: () => editConclusion(li, c, show) }, t("conclusion.edit"))
        : null;
      mount(row, toTask, toTask && edit ? " " : null, edit);
      mount(li,
        h("div", { "data-testid": "conclusion-text" }, c.text),
        h("div.small.muted", {}, c.assignee_unit ? unitName(c.assignee_unit) : t("conclusion.no_unit"), c.deadline ? ` · ${t("tasks.deadline")} ${formatDate(c.deadline)}` : "",
          c.at_s != null ? h("button.time.linklike", { type: "button", "aria-label": t("record.play_from", { at: clock(c.at_s) }), onclick: () => seek(c.at_s, true) }, ` · ▶ ${clock(c.at_s)}`) : null),
        row);
    }
    show();
    return li;
  }

  async function conclusionsView() {
    let list;
    let made;
    try {
      [list, made] = await Promise.all([api.get(`/api/meetings/${meetingId}/conclusions`), api.get(`/api/tasks?meeting=${meetingId}`).catch(() => [])]);
    } catch (err) {
      return () => mount(tasksBox, h("h2#tasks-h", {}, t("minutes.conclusions")), h("p.muted", {}, isMissingRoute(err) ? t("minutes.unavailable") : err.message));
    }
    const taskOf = new Map(made.filter((x) => x.conclusion_id).map((x) => [x.conclusion_id, x]));
    return () => mount(tasksBox, h("h2#tasks-h", {}, t("minutes.conclusions")), conclusionFlash, editor ? conclusionForm() : null,
      list.length ? h("ol.conclusions", {}, list.map((c) => conclusionItem(c, taskOf.get(c.id))))
        : h("p.muted", {}, t("minutes.no_conclusions")),
      h("a.small", { href: "#/tasks" }, t("tasks.open_board")));
  }

  mount(main,
    h("div.page-head", {},
      h("div", {}, h("h1", {}, meeting.title),
        h("p.muted", {}, meeting.chair_unit_name, " · ", formatDateTime(meeting.started_at || meeting.starts_at), " ", statusBadge(meeting.status))),
      h("a.btn.ghost", { href: "#/meetings", "aria-label": t("common.back") }, "← ", t("common.back"))),
    h("div.record-layout", {},
      h("section.card.transcript-card", { "aria-labelledby": "tr-h" },
        h("div.card-head", {}, h("h2#tr-h", {}, t("record.transcript")),
          h("div.actions", {}, h("label.sr-only", { for: "unit-filter" }, t("record.filter_unit")), unitFilter, editBtn)),
        h("div.player-sticky", {}, h("div.player-with-agenda", {}, h("div.player-main", {}, audio, audioNote, composed ? composed.box : null), agenda.box)),
        files.box, progress, list),
      h("div.record-side", {},
        h("section.card", { "aria-labelledby": "sp-h" }, h("h2#sp-h", {}, t("record.speakers")), speakers),
        minutesBox, tasksBox)));
  const minutes = minutesCard({ box: minutesBox, meetingId, meeting, user, editor });
  await Promise.all([loadTranscript(), files.load(), minutes.reload(), conclusionsView().then((draw) => draw()),
    composed ? composed.load() : null]);
  if (Number.isFinite(startAt) && audio.readyState >= 1) seek(startAt, true);
  return () => { clearTimeout(pollTimer); clearTimeout(audioRetry); stopFollowing(); audio.pause(); if (composed) composed.stop(); };
}
