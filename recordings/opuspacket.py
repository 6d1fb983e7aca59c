"""What the recorder needs to know about a raw Opus packet (RFC 6716 section 3.1), without decoding it.

A packet's duration comes from its TOC byte (configuration -> frame size) and its frame-count code.
Gaps in the RTP clock are filled with encoded CELT silence frames, which every Opus decoder turns
into digital silence.
"""

from __future__ import annotations

OPUS_CLOCK_HZ = 48000
MAX_PACKET_DURATION_SAMPLES = 5760  # 120 ms at 48 kHz, the longest packet Opus allows

# Frame size in 48 kHz samples for each of the 32 TOC configurations.
_SILK_FRAME_SAMPLES = (480, 960, 1920, 2880)  # 10, 20, 40, 60 ms
_HYBRID_FRAME_SAMPLES = (480, 960)  # 10, 20 ms
_CELT_FRAME_SAMPLES = (120, 240, 480, 960)  # 2.5, 5, 10, 20 ms
FRAME_SAMPLES_BY_CONFIG: tuple[int, ...] = (
    _SILK_FRAME_SAMPLES * 3 + _HYBRID_FRAME_SAMPLES * 2 + _CELT_FRAME_SAMPLES * 4
)

# CELT-only fullband mono packets whose range-coded body sets the silence flag. TOC = config << 3.
_CELT_FB_CONFIG_BY_SAMPLES = {120: 28, 240: 29, 480: 30, 960: 31}
_SILENCE_BODY = b"\xff\xfe"
SILENCE_FRAME_BY_SAMPLES: dict[int, bytes] = {
    samples: bytes([config << 3]) + _SILENCE_BODY for samples, config in _CELT_FB_CONFIG_BY_SAMPLES.items()
}
SILENCE_FRAME_SIZES_SAMPLES = (960, 480, 240, 120)  # largest first


def packet_duration_samples(packet: bytes) -> int:
    """Duration of one Opus packet in 48 kHz samples; 0 if the packet is malformed."""
    if not packet:
        return 0
    toc = packet[0]
    frame_samples = FRAME_SAMPLES_BY_CONFIG[toc >> 3]
    code = toc & 0x03
    if code == 0:
        frames = 1
    elif code in (1, 2):
        frames = 2
    else:
        if len(packet) < 2:
            return 0
        frames = packet[1] & 0x3F
    duration = frames * frame_samples
    if duration == 0 or duration > MAX_PACKET_DURATION_SAMPLES:
        return 0
    return duration


def silence_packets(duration_samples: int) -> list[bytes]:
    """Silence frames covering ``duration_samples`` (rounded down to a multiple of 2.5 ms)."""
    packets: list[bytes] = []
    remaining = duration_samples
    for size in SILENCE_FRAME_SIZES_SAMPLES:
        count, remaining = divmod(remaining, size)
        packets.extend([SILENCE_FRAME_BY_SAMPLES[size]] * count)
    return packets
