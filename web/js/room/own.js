// The page's own controls in the room: microphone, camera, hand, audio only, screen share, captions, leave.
// Each one changes the room state (a "ui:" action) and tells the server (docs/signaling.md); the tracks are
// the page's. `room`: the RoomPage of views/room.js (its state, dispatch, send, local tracks and session).
import { t } from "../i18n.js";
import { saveChoice } from "../media/devices.js";

/** The click handlers of the toolbar and the captions' toggle, bound to `room`. */
export function ownControls(room) {
  const send = (msg) => room.send(msg);

  function toggleMic() {
    const on = !room.state.micOn;
    room.dispatch({ type: "ui:mic", on });
    if (room.state.micOn === on) send({ type: "mute", audio: !on });
  }

  function toggleCam() {
    room.dispatch({ type: "ui:cam", on: !room.state.camOn });
    if (room.camTrack()) room.camTrack().enabled = room.state.camOn;
    send({ type: "mute", video: !room.state.camOn });
  }

  function toggleHand() {
    room.dispatch({ type: "ui:hand", raised: !room.state.handUp });
    send({ type: "raise_hand", raised: room.state.handUp });
  }

  function toggleAudioOnly() {
    room.dispatch({ type: "ui:audio_only", enabled: !room.state.audioOnly });
    saveChoice({ ...room.choice, audioOnly: room.state.audioOnly });
    send({ type: "audio_only", enabled: room.state.audioOnly });
  }

  async function toggleScreen() {
    if (room.state.screenOn) {
      await room.stopScreenTrack();
      room.dispatch({ type: "ui:screen", on: false });
      send({ type: "screen_share", on: false });
      return;
    }
    let display;
    try {
      display = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 5 }, audio: false });
    } catch (err) {
      room.notify(t("room.screen_failed", { error: err.message || err.name }));
      return;
    }
    const track = display.getVideoTracks()[0];
    track.addEventListener("ended", () => {
      const session = room.session;
      if (!room.state.screenOn || !session || session.local.screen !== track) return;
      room.stopScreenTrack();
      room.dispatch({ type: "ui:screen", on: false });
      send({ type: "screen_share", on: false });
    });
    await room.session.setLocal("screen", track);
    room.dispatch({ type: "ui:screen", on: true });
    send({ type: "screen_share", on: true });
  }

  function toggleCaptions() {
    room.dispatch({ type: "ui:captions", enabled: !room.state.captionsOn });
    send({ type: "captions", enabled: room.state.captionsOn });
  }

  function leave() {
    send({ type: "leave" });
    room.sig.close();
    location.hash = "#/meetings";
  }

  return {
    mic: toggleMic,
    cam: toggleCam,
    hand: toggleHand,
    screen: toggleScreen,
    audioOnly: toggleAudioOnly,
    captions: toggleCaptions,
    leave,
  };
}
