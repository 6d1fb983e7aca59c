"""What the recorder needs to know about a raw Opus packet (RFC 6716 section 3.1), without decoding it.

A packet's duration comes from its TOC byte (configuration -> frame size) and its frame-count code.
Gaps in the RTP clock are filled with encoded CELT silence frames, which every Opus decoder turns
into digital silence.
"""

from __future__ import annotations

OPUS_CLOCK_HZ = 48000
MAX_PACKET_DURATION_SAMPLES = 5760  # 120 ms at 48 kHz, the longest packet Opus allows
MAX_FRAME_BYTES = 1275  # RFC 6716 section 3.4 [R2]

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


MODE_SILK = 1000  # libopus' mode numbers
MODE_HYBRID = 1001
MODE_CELT = 1002


def opus_mode(packet: bytes) -> int:
    """The coding mode of a packet's TOC configuration: MODE_SILK (0-11), MODE_HYBRID (12-15), MODE_CELT."""
    config = packet[0] >> 3 if packet else 31
    return MODE_SILK if config < 12 else MODE_HYBRID if config < 16 else MODE_CELT


def packet_channels(packet: bytes) -> int:
    """1 or 2: the stereo flag of the TOC byte (0 for an empty packet)."""
    if not packet:
        return 0
    return 2 if packet[0] & 0x04 else 1


def _first_frame(packet: bytes) -> bytes:
    """The first compressed frame of a packet (RFC 6716 section 3.2); empty when malformed or absent."""
    code = packet[0] & 0x03
    if code in (0, 1):
        body = packet[1:]
        if code == 0:
            return body if len(body) <= MAX_FRAME_BYTES else b""
        return body[: len(body) // 2] if len(body) % 2 == 0 and len(body) <= 2 * MAX_FRAME_BYTES else b""
    if code == 2:
        if len(packet) < 2:
            return b""
        if packet[1] < 252:
            size, start = packet[1], 2
        elif len(packet) >= 3:
            size, start = packet[1] + 4 * packet[2], 3
        else:
            return b""
        return packet[start : start + size] if start + size <= len(packet) else b""
    if len(packet) < 2:
        return b""
    count, vbr, padded = packet[1] & 0x3F, packet[1] & 0x80, packet[1] & 0x40
    offset, padding = 2, 0
    while padded:
        if offset >= len(packet):
            return b""
        chunk = packet[offset]
        offset += 1
        padding += 254 if chunk == 255 else chunk
        padded = chunk == 255
    end = len(packet) - padding
    if count == 0 or end < offset:
        return b""
    if count == 1:
        return packet[offset:end]
    if not vbr:
        size, rest = divmod(end - offset, count)
        return packet[offset : offset + size] if not rest and size <= MAX_FRAME_BYTES else b""
    sizes: list[int] = []  # every frame's length but the last's, which is what remains (as libopus reads)
    for _ in range(count - 1):
        if offset >= end:
            return b""
        if packet[offset] < 252:
            sizes.append(packet[offset])
            offset += 1
        elif offset + 1 < end:
            sizes.append(packet[offset] + 4 * packet[offset + 1])
            offset += 2
        else:
            return b""
    last = end - offset - sum(sizes)
    if last < 0 or last > MAX_FRAME_BYTES:
        return b""
    return packet[offset : offset + sizes[0]]


def has_lbrr(packet: bytes) -> bool:
    """True when a SILK or hybrid packet carries in-band FEC (LBRR) data for the frame before it.

    The LBRR flag follows the voice-activity flags at the top of the first frame's range-coded bits (what
    libopus 1.5's ``opus_packet_has_lbrr`` reads). CELT-only packets never carry FEC.
    """
    if not packet or packet_duration_samples(packet) == 0:
        return False
    config = packet[0] >> 3
    if config >= 16:  # CELT only
        return False
    frame = _first_frame(packet)
    if not frame:
        return False
    silk_frames = max(1, FRAME_SAMPLES_BY_CONFIG[config] // 960)
    lbrr = (frame[0] >> (7 - silk_frames)) & 0x1
    if packet_channels(packet) == 2:
        lbrr |= (frame[0] >> (6 - 2 * silk_frames)) & 0x1
    return bool(lbrr)
