"""Live room state: participants, roles, roll-call, floor, chat (no aiortc here)."""
