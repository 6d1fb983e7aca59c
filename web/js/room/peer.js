// The browser's one RTCPeerConnection to the SFU. The server is always the offerer: we answer each `offer`,
// attach our microphone/camera/screen to the m-lines the server receives (not listed in offer.streams), and
// report every remote m-line (listed in offer.streams: mid → participant, kind, source) to the view.

const GATHER_WAIT_MS = 1000;
const ROLE_OF_SOURCE = { microphone: "mic", camera: "camera", screen: "screen", thumbnail: "thumbnail" };
// the wall's copy of the camera (docs/signaling.md, "The chair's wall"): the same track, encoded smaller
const THUMBNAIL_ENCODING = { scaleResolutionDownBy: 2, maxBitrate: 150_000, maxFramerate: 15 };

/**
 * welcome.ice_servers ("stun:host:port", "turn:user:pass@host:port") and welcome.turn entries
 * ({urls, username, credential, expires}: time-limited credentials issued for this socket) → RTCIceServer objects.
 */
export function iceServersFrom(urls) {
  return (urls || []).map((url) => {
    if (typeof url === "object") return { urls: url.urls, username: url.username, credential: url.credential };
    const m = /^(turns?):([^:@]+):([^@]+)@(.+)$/.exec(url);
    return m ? { urls: `${m[1]}:${m[4]}`, username: decodeURIComponent(m[2]), credential: decodeURIComponent(m[3]) } : { urls: url };
  });
}

function waitForGathering(pc, timeoutMs) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      pc.removeEventListener("icegatheringstatechange", check);
      clearTimeout(timer);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener("icegatheringstatechange", check);
  });
}

export class MediaSession extends EventTarget {
  /**
   * @param {(msg: object) => void} send   sends a signaling message
   * @param {{mic: MediaStreamTrack|null, camera: MediaStreamTrack|null}} local
   * @param {Array<string|object>} iceServers  welcome.ice_servers, then welcome.turn
   * @param {string} me  our participant id (labels of our own m-lines carry it)
   */
  constructor(send, local, iceServers, me) {
    super();
    this.me = me;
    this.send = send;
    this.local = { mic: local.mic || null, camera: local.camera || null, screen: null, thumbnail: local.camera || null };
    this.ownRoles = new Map(); // mid → "mic" | "camera" | "screen" | "thumbnail"
    this.thumbnailActive = true; // the server's `thumbnail` message: whether a wall shows ours
    this.streams = new Map(); // mid → StreamInfo of the latest offer
    this.queue = Promise.resolve();
    this.pc = new RTCPeerConnection({ iceServers: iceServersFrom(iceServers), bundlePolicy: "max-bundle" });
    this.pc.addEventListener("icecandidate", (e) => {
      if (e.candidate && e.candidate.candidate) {
        this.send({
          type: "ice",
          candidate: e.candidate.candidate,
          sdp_mid: e.candidate.sdpMid,
          sdp_mline_index: e.candidate.sdpMLineIndex,
        });
      }
    });
    this.pc.addEventListener("connectionstatechange", () => {
      this.dispatchEvent(new CustomEvent("state", { detail: this.pc.connectionState }));
    });
  }

  /** Answer one server offer (serialized: offers are handled in the order they arrive). */
  handleOffer(offer) {
    this.queue = this.queue
      .then(() => this._answer(offer))
      .catch((err) => {
        console.error("answering the offer failed", err);
        this.dispatchEvent(new CustomEvent("failure", { detail: err }));
      });
    return this.queue;
  }

  async _answer(offer) {
    const pc = this.pc;
    if (pc.signalingState === "closed") return;
    // Labels of other participants' media; a label of our own (participant_id === me) names our m-line's source.
    this.streams = new Map();
    const ownLabels = new Map();
    for (const s of offer.streams || []) {
      if (this.me && s.participant_id === this.me) ownLabels.set(s.mid, s);
      else this.streams.set(s.mid, s);
    }
    await pc.setRemoteDescription({ type: "offer", sdp: offer.sdp });
    const unlabelledVideo = [];
    for (const tr of pc.getTransceivers()) {
      if (tr.mid === null || tr.stopped || tr.currentDirection === "stopped") continue;
      if (this.streams.has(tr.mid)) {
        tr.direction = "recvonly";
        continue;
      }
      // an m-line the server receives: ours
      const label = ownLabels.get(tr.mid);
      if (label) this.ownRoles.set(tr.mid, ROLE_OF_SOURCE[label.source] || "mic");
      else if (ownLabels.size > 0 && !this.ownRoles.has(tr.mid)) {
        // the server names our m-lines, so an unnamed one is its spare audio slot (a large meeting):
        // received, so that a speaker put on it plays as soon as the next offer names them
        tr.direction = tr.receiver.track.kind === "audio" ? "recvonly" : "inactive";
      } else if (!this.ownRoles.has(tr.mid)) {
        if (tr.receiver.track.kind === "audio") this.ownRoles.set(tr.mid, "mic");
        else unlabelledVideo.push(tr);
      }
    }
    for (const tr of unlabelledVideo) {
      const taken = new Set(this.ownRoles.values());
      this.ownRoles.set(tr.mid, taken.has("camera") ? "screen" : "camera");
    }
    for (const tr of pc.getTransceivers()) {
      const role = tr.mid !== null ? this.ownRoles.get(tr.mid) : undefined;
      if (!role || this.streams.has(tr.mid)) continue;
      tr.direction = "sendonly";
      const track = this.local[role];
      if (tr.sender.track !== track) await tr.sender.replaceTrack(track);
    }
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    for (const tr of pc.getTransceivers()) {
      if (tr.mid !== null && this.ownRoles.get(tr.mid) === "thumbnail") await this._thumbnailEncoding(tr.sender);
    }
    await waitForGathering(pc, GATHER_WAIT_MS);
    this.send({ type: "answer", sdp: pc.localDescription.sdp });
    this.dispatchEvent(new CustomEvent("remote", { detail: this.remoteTracks() }));
  }

  async _thumbnailEncoding(sender) {
    const params = sender.getParameters();
    if (!params.encodings || !params.encodings.length) return;
    const enc = params.encodings[0];
    const wanted = { ...THUMBNAIL_ENCODING, active: this.thumbnailActive };
    if (Object.entries(wanted).every(([k, v]) => enc[k] === v)) return;
    Object.assign(enc, wanted);
    await sender.setParameters(params);
  }

  /** No wall shows our thumbnail (false): stop encoding it; shown again (true): send it again. */
  setThumbnailSending(on) {
    this.thumbnailActive = on;
    this.queue = this.queue
      .then(async () => {
        for (const tr of this.pc.getTransceivers()) {
          if (tr.mid !== null && this.ownRoles.get(tr.mid) === "thumbnail") await this._thumbnailEncoding(tr.sender);
        }
      })
      .catch((err) => console.error("pausing the thumbnail failed", err));
    return this.queue;
  }

  /** [{mid, info: StreamInfo, track}] for every m-line that carries another participant's media. */
  remoteTracks() {
    const out = [];
    for (const tr of this.pc.getTransceivers()) {
      if (tr.mid === null || !this.streams.has(tr.mid)) continue;
      out.push({ mid: tr.mid, info: this.streams.get(tr.mid), track: tr.receiver.track });
    }
    return out;
  }

  /** Swap a local source (mic/camera/screen) on its m-line without renegotiating. */
  async setLocal(role, track) {
    this.local[role] = track;
    if (role === "camera") this.local.thumbnail = track;
    for (const tr of this.pc.getTransceivers()) {
      const own = tr.mid !== null ? this.ownRoles.get(tr.mid) : undefined;
      if (own === role || (role === "camera" && own === "thumbnail")) await tr.sender.replaceTrack(track);
    }
  }

  addIce(candidate, sdpMid, sdpMLineIndex) {
    return this.pc.addIceCandidate({ candidate, sdpMid, sdpMLineIndex }).catch(() => {});
  }

  close() {
    this.pc.close();
  }
}
