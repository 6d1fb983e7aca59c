"""NackTracker: the missing sequence numbers of one publisher stream, to ask for in RTCP NACKs (RFC 4585).

The same rules as aiortc's `NackGenerator` (a packet newer than the highest seen marks the gap as missing; an
older one fills its hole; only the last RTP_HISTORY_PACKETS sequence numbers are tracked), on plain sequence
numbers: the fast receive path has no `RtpPacket` to hand it, and the common case (the next packet, nothing
missing) costs two comparisons.
"""

from __future__ import annotations

SEQ_MODULO = 1 << 16
SEQ_MASK = SEQ_MODULO - 1
SEQ_HALF = 1 << 15
RTP_HISTORY_PACKETS = 128  # aiortc.rtp.RTP_HISTORY_SIZE


def seq_newer(a: int, b: int) -> bool:
    """a comes after b in 16-bit serial number arithmetic (aiortc's uint16_gt)."""
    return 0 < (a - b) & SEQ_MASK < SEQ_HALF


class NackTracker:
    def __init__(self) -> None:
        self.max_seq: int | None = None
        self.missing: set[int] = set()

    def add(self, seq: int) -> bool:
        """Mark `seq` as received; True when it revealed newly missing packets."""
        max_seq = self.max_seq
        if max_seq is None:
            self.max_seq = seq
            return False
        delta = (seq - max_seq) & SEQ_MASK
        missed = False
        if 0 < delta < SEQ_HALF:
            if delta > 1:
                missed = True
                # the gap, but only what truncation would keep
                for back in range(min(delta - 1, RTP_HISTORY_PACKETS), 0, -1):
                    self.missing.add((seq - back) & SEQ_MASK)
            max_seq = self.max_seq = seq
        else:
            self.missing.discard(seq)
        if self.missing:
            self._truncate(max_seq)
        return missed

    def _truncate(self, max_seq: int) -> None:
        oldest = (max_seq - RTP_HISTORY_PACKETS) & SEQ_MASK
        stale = [seq for seq in self.missing if seq_newer(oldest, seq)]
        for seq in stale:
            self.missing.discard(seq)
