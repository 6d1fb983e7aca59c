"""The canonical JSON form of a document: the exact bytes that a seal fingerprints and signs.

Rules: UTF-8 JSON with keys sorted by code point and no insignificant whitespace; every string (keys too)
NFC-normalised; dates and datetimes in ISO 8601 (``date.isoformat()``/``datetime.isoformat()``, offset kept);
enums by value; tuples as arrays; integral floats written as integers (so 754 and 754.0 agree), other floats
by their shortest repr, NaN and infinities refused. A dataclass document gets a ``"$document"`` key naming its
class, so a seal made for minutes can never verify a notice with the same fields.

``canonical_bytes`` of the parsed canonical JSON (a plain dict, in any key order) gives the same bytes back,
and ``document_from_canonical`` rebuilds the dataclass from them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import unicodedata
from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from typing import Any, Union, get_args, get_origin, get_type_hints

from server.documents.model import MinutesDoc, NoticeDoc

DOCUMENT_KEY = "$document"
DOCUMENT_TYPES: dict[str, type[MinutesDoc] | type[NoticeDoc]] = {
    "MinutesDoc": MinutesDoc,
    "NoticeDoc": NoticeDoc,
}

Document = MinutesDoc | NoticeDoc


def canonical_value(value: object) -> Any:
    """``value`` as plain JSON values, normalised as the module describes."""
    if isinstance(value, Enum):
        return canonical_value(value.value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"no canonical form for {value!r}")
        return int(value) if value.is_integer() else value
    if isinstance(value, datetime | date):  # datetime first: it is a date too
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: canonical_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, MinutesDoc | NoticeDoc):
            fields[DOCUMENT_KEY] = type(value).__name__
        return fields
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"canonical JSON keys must be strings, not {type(key).__name__}")
            normal = unicodedata.normalize("NFC", key)
            if normal in result:
                raise ValueError(f"two keys normalise to {normal!r}")
            result[normal] = canonical_value(item)
        return result
    if isinstance(value, list | tuple):
        return [canonical_value(item) for item in value]
    raise TypeError(f"no canonical form for {type(value).__name__}")


def canonical_bytes(doc: Document | Mapping[str, Any]) -> bytes:
    """The canonical JSON bytes of a document (or of its already parsed JSON form)."""
    text = json.dumps(
        canonical_value(doc), ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
    )
    return text.encode("utf-8")


def document_from_canonical(data: bytes | str | Mapping[str, Any]) -> Document:
    """Rebuild the ``MinutesDoc``/``NoticeDoc`` that ``canonical_bytes`` wrote."""
    parsed = json.loads(data) if isinstance(data, bytes | str) else data
    if not isinstance(parsed, Mapping):
        raise ValueError("a canonical document is a JSON object")
    name = parsed.get(DOCUMENT_KEY)
    cls = DOCUMENT_TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown document type {name!r}")
    built = _decode(cls, {k: v for k, v in parsed.items() if k != DOCUMENT_KEY})
    assert isinstance(built, MinutesDoc | NoticeDoc)
    return built


def _decode(tp: Any, value: Any) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _decode(option, value)
            except (TypeError, ValueError):
                continue
        raise ValueError(f"{value!r} matches none of {tp}")
    if origin is tuple:
        item_type = get_args(tp)[0]
        if not isinstance(value, list):
            raise TypeError(f"expected an array, got {value!r}")
        return tuple(_decode(item_type, item) for item in value)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, Mapping):
            raise TypeError(f"expected an object for {tp.__name__}, got {value!r}")
        hints = get_type_hints(tp)
        names = {f.name for f in dataclasses.fields(tp)}
        unknown = set(value) - names
        if unknown:
            raise ValueError(f"unknown fields for {tp.__name__}: {sorted(unknown)}")
        return tp(**{name: _decode(hints[name], item) for name, item in value.items()})
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp(value)
    if tp is datetime:
        if not isinstance(value, str):
            raise TypeError(f"expected an ISO datetime, got {value!r}")
        return datetime.fromisoformat(value)
    if tp is date:
        if not isinstance(value, str) or "T" in value:
            raise TypeError(f"expected an ISO date, got {value!r}")
        return date.fromisoformat(value)
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp in (str, int, bool) and type(value) is tp:
        return value
    raise TypeError(f"expected {tp}, got {value!r}")
