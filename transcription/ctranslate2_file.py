"""Reader for CTranslate2's model.bin (binary version 6), which ctranslate2 itself only writes.

Layout, as written by ``ctranslate2.specs.model_spec.ModelSpec._serialize`` (little-endian):
``u32 version, str spec_name, u32 revision, u32 n_vars, n_vars × (str name, u8 rank, rank × u32 dim,
u8 dtype_id, u32 n_bytes, bytes), u32 n_aliases, n_aliases × (str alias, str target)``, where ``str`` is
``u16 length-including-NUL, UTF-8 bytes, NUL``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from transcription.errors import ModelIntegrityError

SUPPORTED_BINARY_VERSIONS = (5, 6)
# Order of ctranslate2's DataType enum (include/ctranslate2/types.h); bfloat16 has no numpy type.
DTYPES: tuple[str, ...] = ("float32", "int8", "int16", "int32", "float16", "bfloat16")


@dataclass(frozen=True)
class CTranslate2Model:
    """The variables of a model.bin, aliases resolved to the same arrays."""

    spec_name: str
    revision: int
    variables: dict[str, npt.NDArray[np.generic]]


class _Cursor:
    def __init__(self, data: bytes, path: Path) -> None:
        self.data = data
        self.offset = 0
        self.path = path

    def unpack(self, fmt: str) -> int:
        try:
            (value,) = struct.unpack_from("<" + fmt, self.data, self.offset)
        except struct.error as exc:
            raise ModelIntegrityError(f"{self.path}: truncated at byte {self.offset}") from exc
        self.offset += struct.calcsize(fmt)
        return int(value)

    def string(self) -> str:
        length = self.unpack("H")
        raw = self.data[self.offset : self.offset + length - 1]
        self.offset += length
        return raw.decode("utf-8")

    def take(self, count: int) -> bytes:
        if self.offset + count > len(self.data):
            raise ModelIntegrityError(f"{self.path}: truncated at byte {self.offset}")
        raw = self.data[self.offset : self.offset + count]
        self.offset += count
        return raw


def read_model_bin(path: Path | str) -> CTranslate2Model:
    """Parse a CTranslate2 model.bin into numpy arrays (bfloat16 is refused: numpy cannot hold it)."""
    path = Path(path)
    cursor = _Cursor(path.read_bytes(), path)
    version = cursor.unpack("I")
    if version not in SUPPORTED_BINARY_VERSIONS:
        raise ModelIntegrityError(f"{path}: unsupported CTranslate2 binary version {version}")
    spec_name = cursor.string()
    revision = cursor.unpack("I")
    variables: dict[str, npt.NDArray[np.generic]] = {}
    for _ in range(cursor.unpack("I")):
        name = cursor.string()
        rank = cursor.unpack("B")
        shape = tuple(cursor.unpack("I") for _ in range(rank))
        dtype_id = cursor.unpack("B")
        if dtype_id >= len(DTYPES) or DTYPES[dtype_id] == "bfloat16":
            raise ModelIntegrityError(f"{path}: variable {name} has an unsupported data type id {dtype_id}")
        dtype = np.dtype(DTYPES[dtype_id]).newbyteorder("<")
        raw = cursor.take(cursor.unpack("I"))
        array = np.frombuffer(raw, dtype=dtype)
        if array.size != int(np.prod(shape, dtype=np.int64)):
            raise ModelIntegrityError(f"{path}: variable {name} holds {array.size} values for shape {shape}")
        variables[name] = array.reshape(shape)
    for _ in range(cursor.unpack("I")):
        alias, target = cursor.string(), cursor.string()
        variables[alias] = variables[target]
    if cursor.offset != len(cursor.data):
        raise ModelIntegrityError(f"{path}: {len(cursor.data) - cursor.offset} unexpected trailing bytes")
    return CTranslate2Model(spec_name, revision, variables)
