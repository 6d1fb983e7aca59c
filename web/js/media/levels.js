// Microphone level meter: WebAudio AnalyserNode → RMS level in [0, 1], drawn into a <meter>-like bar.

const FFT_SIZE = 1024;

let sharedContext = null;

export function audioContext() {
  if (!sharedContext) sharedContext = new AudioContext();
  if (sharedContext.state === "suspended") sharedContext.resume().catch(() => {});
  return sharedContext;
}

/** RMS of one analyser frame (0 silent … ~1 full scale). */
export function rmsOf(analyser, buffer) {
  analyser.getFloatTimeDomainData(buffer);
  let sum = 0;
  for (let i = 0; i < buffer.length; i++) sum += buffer[i] * buffer[i];
  return Math.sqrt(sum / buffer.length);
}

/**
 * Watch the level of a stream's audio. onLevel(level0to1) runs ~20 times a second. Returns stop().
 * The level is shown on a dB-like scale so speech fills a visible part of the bar.
 */
export function watchLevel(stream, onLevel) {
  if (!stream || !stream.getAudioTracks().length) return () => {};
  const ctx = audioContext();
  const source = ctx.createMediaStreamSource(stream);
  const analyser = ctx.createAnalyser();
  analyser.fftSize = FFT_SIZE;
  source.connect(analyser);
  const buffer = new Float32Array(analyser.fftSize);
  const timer = setInterval(() => {
    const rms = rmsOf(analyser, buffer);
    const db = 20 * Math.log10(rms + 1e-9);
    onLevel(Math.max(0, Math.min(1, (db + 60) / 60)), rms);
  }, 50);
  return () => {
    clearInterval(timer);
    source.disconnect();
  };
}

/** A level bar element with update(level). */
export function levelBar(label) {
  const fill = document.createElement("div");
  fill.className = "level-fill";
  const bar = document.createElement("div");
  bar.className = "level-bar";
  bar.setAttribute("role", "meter");
  bar.setAttribute("aria-label", label);
  bar.setAttribute("aria-valuemin", "0");
  bar.setAttribute("aria-valuemax", "100");
  bar.append(fill);
  bar.update = (level) => {
    const pct = Math.round(level * 100);
    fill.style.width = pct + "%";
    bar.setAttribute("aria-valuenow", String(pct));
    bar.dataset.level = String(pct);
  };
  bar.update(0);
  return bar;
}
