"""Media: aiortc peer connections and RTP forwarding without transcoding."""
