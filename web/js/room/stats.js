// Connection quality from getStats: round-trip time of the selected candidate pair and inbound packet loss.

export const QUALITY = { GOOD: "good", FAIR: "fair", POOR: "poor", UNKNOWN: "unknown" };

const POOR_LOSS = 0.05;
const FAIR_LOSS = 0.01;
const POOR_RTT_MS = 400;
const FAIR_RTT_MS = 150;

export class QualityMeter {
  constructor(pc) {
    this.pc = pc;
    this.prev = { received: 0, lost: 0 };
  }

  /** {quality, rttMs, lossPct, inbound: {mid: {kind, bytes, packets, energy, frames}}} since the last call. */
  async sample() {
    const report = await this.pc.getStats();
    let rttMs = null;
    let received = 0;
    let lost = 0;
    const inbound = {};
    report.forEach((s) => {
      if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded" && s.currentRoundTripTime !== undefined) {
        rttMs = s.currentRoundTripTime * 1000;
      }
      if (s.type === "inbound-rtp") {
        received += s.packetsReceived || 0;
        lost += Math.max(0, s.packetsLost || 0);
        inbound[s.mid] = {
          kind: s.kind, bytes: s.bytesReceived || 0, packets: s.packetsReceived || 0,
          energy: s.totalAudioEnergy || 0, frames: s.framesDecoded || 0,
        };
      }
    });
    const dr = received - this.prev.received;
    const dl = lost - this.prev.lost;
    this.prev = { received, lost };
    const lossPct = dr + dl > 0 ? (100 * dl) / (dr + dl) : 0;
    let quality = QUALITY.UNKNOWN;
    if (rttMs !== null) {
      const loss = lossPct / 100;
      quality = loss >= POOR_LOSS || rttMs >= POOR_RTT_MS ? QUALITY.POOR
        : loss >= FAIR_LOSS || rttMs >= FAIR_RTT_MS ? QUALITY.FAIR : QUALITY.GOOD;
    }
    return { quality, rttMs, lossPct, inbound };
  }
}
