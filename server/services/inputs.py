"""Constrained values shared by the request models: ids within the database's integer range, and free text.

Free text that may reach a document (meeting and agenda titles, conclusions, transcript lines, task titles,
unit names, signers' names...) is checked once, here, at the API boundary::

    title: Annotated[str, Text(MAX_TITLE_CHARS)]                     # one line, required
    place: Annotated[str, Text(300, required=False)] = ""            # one line, may be empty
    text: Annotated[str, Text(4000, multiline=True)]                 # newlines and tabs allowed

The value is NFC-normalised and trimmed; a required one must keep a character; control characters (Unicode
category Cc: C0, DEL and C1), lone surrogates and the non-characters U+FFFE/U+FFFF are refused (a multi-line
text keeps newline and tab; CRLF and CR become LF); the length is counted after trimming. A refusal is a 422
in the house error shape, its details carrying a Vietnamese message. The OpenAPI schema shows the bounds.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

# The id columns are INTEGER: 32-bit on PostgreSQL (SQLite's hold 64 bits, but its ids are as many), so an id
# outside 1..2^31-1 names no row — and PostgreSQL refuses to compare one with its column ("integer out of
# range", a 500 that schemathesis found on the PostgreSQL run).
MAX_DB_ID = 2**31 - 1
DbId = Annotated[int, Field(ge=1, le=MAX_DB_ID)]

_NONCHARACTERS = frozenset("\ufffe\uffff")
_MULTILINE_ALLOWED = frozenset("\n\t")


def illegal_character(text: str, *, multiline: bool) -> str | None:
    """The first character free text may not hold, or None."""
    for char in text:
        if multiline and char in _MULTILINE_ALLOWED:
            continue
        if char in _NONCHARACTERS or unicodedata.category(char) in ("Cc", "Cs"):
            return char
    return None


@dataclass(frozen=True)
class Text:
    """Pydantic metadata for a ``str`` field of free text (see the module docstring)."""

    max_chars: int
    multiline: bool = False
    required: bool = True

    def clean(self, value: str) -> str:
        text = unicodedata.normalize("NFC", value)
        if self.multiline:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = text.strip()
        if self.required and not text:
            raise PydanticCustomError("text_blank", "Không được để trống.")
        bad = illegal_character(text, multiline=self.multiline)
        if bad is not None:
            raise PydanticCustomError(
                "text_control_character",
                "Không được chứa ký tự điều khiển (U+{code}).",
                {"code": f"{ord(bad):04X}"},
            )
        if len(text) > self.max_chars:
            raise PydanticCustomError(
                "text_too_long", "Dài tối đa {max_chars} ký tự.", {"max_chars": self.max_chars}
            )
        return text

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.clean, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["maxLength"] = self.max_chars
        if self.required:
            json_schema["minLength"] = 1
        return json_schema
