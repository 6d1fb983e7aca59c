"""Every signaling message type in server/rooms/messages.py is documented in docs/signaling.md."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from server.rooms import messages as m

DOC = (Path(__file__).resolve().parents[2] / "docs" / "signaling.md").read_text(encoding="utf-8")


def _types(union: object) -> list[str]:
    args = typing.get_args(union)
    if args and typing.get_origin(union) is typing.Annotated:
        args = typing.get_args(args[0])
    return [t.model_fields["type"].annotation.__args__[0] for t in args]  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", _types(m.ClientMessage) + _types(m.ServerMessage))
def test_message_type_is_documented(name: str) -> None:
    assert f"| `{name}` |" in DOC, f"message type {name} is not documented in docs/signaling.md"
