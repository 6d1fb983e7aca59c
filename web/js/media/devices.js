// The chosen camera/microphone and join options, kept for the tab between the check page and the room.

const KEY = "giaoban.devices";

export function loadChoice() {
  try {
    return { audioOnly: false, publishVideo: true, cameraId: "", micId: "", ...JSON.parse(sessionStorage.getItem(KEY) || "{}") };
  } catch {
    return { audioOnly: false, publishVideo: true, cameraId: "", micId: "" };
  }
}

export function saveChoice(choice) {
  sessionStorage.setItem(KEY, JSON.stringify(choice));
}

export const VIDEO_CONSTRAINTS = { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 15, max: 30 } };

/** getUserMedia with the chosen devices; video only when publishVideo. */
export async function openLocalMedia(choice) {
  const audio = choice.micId ? { deviceId: { exact: choice.micId } } : true;
  const video = choice.publishVideo
    ? { ...VIDEO_CONSTRAINTS, ...(choice.cameraId ? { deviceId: { exact: choice.cameraId } } : {}) }
    : false;
  return navigator.mediaDevices.getUserMedia({ audio: { ...(audio === true ? {} : audio), echoCancellation: true, noiseSuppression: true }, video });
}
