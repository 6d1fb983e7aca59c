"""A small ctypes binding to libopus: decode (also in-band FEC and concealment) and encode one frame.

The recorder muxes packets without decoding them; only a hole in a track needs libopus: a missing frame's
audio is decoded from the next packet's in-band FEC (LBRR) data, then encoded again as one Opus packet so
the file stays plain Opus. PyAV's wheel ships libopus (``av.libs/libopus-*.so*``), so it is found without a
system package; the system's ``libopus.so.0`` is the fallback. ctypes releases the GIL during each call.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import importlib.util
import os
import threading

import numpy as np

OPUS_OK = 0
OPUS_APPLICATION_VOIP = 2048
OPUS_SET_BITRATE_REQUEST = 4002
OPUS_SET_COMPLEXITY_REQUEST = 4010
OPUS_SET_INBAND_FEC_REQUEST = 4012
OPUS_SET_PACKET_LOSS_PERC_REQUEST = 4014
OPUS_GET_LOOKAHEAD_REQUEST = 4027
OPUS_SET_SIGNAL_REQUEST = 4024
OPUS_SIGNAL_VOICE = 3001
OPUS_SET_FORCE_MODE_REQUEST = 11002  # opus_private.h (libopus >= 1.0): SILK 1000, hybrid 1001, CELT 1002
SAMPLE_RATE_HZ = 48000
MAX_FRAME_SAMPLES = 5760  # 120 ms at 48 kHz
MAX_PACKET_BYTES = 1500

_lib: ctypes.CDLL | None = None
_lib_lock = threading.Lock()


class OpusCodecError(RuntimeError):
    """libopus is missing or refused a call."""


def candidate_paths() -> list[str]:
    found: list[str] = []
    spec = importlib.util.find_spec("av")
    if spec is not None and spec.origin is not None:
        libs = os.path.join(os.path.dirname(os.path.dirname(spec.origin)), "av.libs")
        found += sorted(glob.glob(os.path.join(libs, "libopus*.so*")))
    system = ctypes.util.find_library("opus")
    if system:
        found.append(system)
    found.append("libopus.so.0")
    return found


def library() -> ctypes.CDLL:
    """The loaded libopus (loaded once); raises OpusCodecError when none can be loaded."""
    global _lib
    with _lib_lock:
        if _lib is not None:
            return _lib
        errors: list[str] = []
        for name in candidate_paths():
            try:
                lib = ctypes.CDLL(name)
            except OSError as exc:
                errors.append(f"{name}: {exc}")
                continue
            _declare(lib)
            _lib = lib
            return lib
        raise OpusCodecError("libopus not found: " + "; ".join(errors))


def _declare(lib: ctypes.CDLL) -> None:
    c_int_p = ctypes.POINTER(ctypes.c_int)
    lib.opus_decoder_create.argtypes = [ctypes.c_int32, ctypes.c_int, c_int_p]
    lib.opus_decoder_create.restype = ctypes.c_void_p
    lib.opus_decoder_destroy.argtypes = [ctypes.c_void_p]
    lib.opus_decoder_destroy.restype = None
    lib.opus_decode.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int32,
        ctypes.POINTER(ctypes.c_int16),
        ctypes.c_int,
        ctypes.c_int,
    ]
    lib.opus_decode.restype = ctypes.c_int
    lib.opus_encoder_create.argtypes = [ctypes.c_int32, ctypes.c_int, ctypes.c_int, c_int_p]
    lib.opus_encoder_create.restype = ctypes.c_void_p
    lib.opus_encoder_destroy.argtypes = [ctypes.c_void_p]
    lib.opus_encoder_destroy.restype = None
    lib.opus_encode.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_int16),
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int32,
    ]
    lib.opus_encode.restype = ctypes.c_int32
    lib.opus_strerror.argtypes = [ctypes.c_int]
    lib.opus_strerror.restype = ctypes.c_char_p


def _check(code: int, what: str) -> int:
    if code < 0:
        message = library().opus_strerror(code) or b"?"
        raise OpusCodecError(f"{what}: {message.decode()}")
    return code


class Decoder:
    """One libopus decoder (48 kHz, or ``sample_rate_hz``: 8, 12, 16 or 24 kHz, decoded there without
    resampling). PCM comes back as int16 arrays of shape (samples, channels)."""

    def __init__(self, channels: int, *, sample_rate_hz: int = SAMPLE_RATE_HZ) -> None:
        self.channels = channels
        self._lib = library()
        error = ctypes.c_int(0)
        self._state = self._lib.opus_decoder_create(sample_rate_hz, channels, ctypes.byref(error))
        if not self._state or error.value != OPUS_OK:
            raise OpusCodecError(f"opus_decoder_create failed ({error.value})")
        self._max_frame_samples = MAX_FRAME_SAMPLES * sample_rate_hz // SAMPLE_RATE_HZ
        self._pcm = (ctypes.c_int16 * (self._max_frame_samples * channels))()

    def _decode(self, data: bytes | None, frame_samples: int, fec: int) -> np.ndarray:
        length = len(data) if data is not None else 0
        samples = _check(
            self._lib.opus_decode(self._state, data, length, self._pcm, frame_samples, fec), "opus_decode"
        )
        out = np.ctypeslib.as_array(self._pcm)[: samples * self.channels].copy()
        return out.reshape(samples, self.channels)

    def decode(self, packet: bytes) -> np.ndarray:
        return self._decode(packet, self._max_frame_samples, 0)

    def decode_fec(self, next_packet: bytes, frame_samples: int) -> np.ndarray:
        """The frame before ``next_packet``, from its in-band FEC data (concealment if it has none)."""
        return self._decode(next_packet, frame_samples, 1)

    def conceal(self, frame_samples: int) -> np.ndarray:
        """Packet-loss concealment of one missing frame."""
        return self._decode(None, frame_samples, 0)

    def close(self) -> None:
        if self._state:
            self._lib.opus_decoder_destroy(self._state)
            self._state = None

    def __del__(self) -> None:
        self.close()


class Encoder:
    """One libopus encoder (48 kHz, VoIP application)."""

    def __init__(
        self,
        channels: int,
        *,
        bitrate_bps: int | None = None,
        fec: bool = False,
        packet_loss_percent: int = 0,
        complexity: int | None = None,
    ) -> None:
        self.channels = channels
        self._lib = library()
        error = ctypes.c_int(0)
        self._state = self._lib.opus_encoder_create(
            SAMPLE_RATE_HZ, channels, OPUS_APPLICATION_VOIP, ctypes.byref(error)
        )
        if not self._state or error.value != OPUS_OK:
            raise OpusCodecError(f"opus_encoder_create failed ({error.value})")
        self._out = ctypes.create_string_buffer(MAX_PACKET_BYTES)
        self._ctl(OPUS_SET_SIGNAL_REQUEST, OPUS_SIGNAL_VOICE)
        if bitrate_bps is not None:
            self._ctl(OPUS_SET_BITRATE_REQUEST, bitrate_bps)
        if complexity is not None:
            self._ctl(OPUS_SET_COMPLEXITY_REQUEST, complexity)
        if fec:
            self._ctl(OPUS_SET_INBAND_FEC_REQUEST, 1)
            self._ctl(OPUS_SET_PACKET_LOSS_PERC_REQUEST, packet_loss_percent)

    def _ctl(self, request: int, value: int) -> None:
        _check(
            self._lib.opus_encoder_ctl(
                ctypes.c_void_p(self._state), ctypes.c_int(request), ctypes.c_int(value)
            ),
            f"opus_encoder_ctl({request})",
        )

    def force_mode(self, mode: int) -> bool:
        """Encode in this mode (1000 SILK, 1001 hybrid, 1002 CELT); False when libopus refuses the request."""
        try:
            self._ctl(OPUS_SET_FORCE_MODE_REQUEST, mode)
        except OpusCodecError:
            return False
        return True

    @property
    def lookahead_samples(self) -> int:
        value = ctypes.c_int(0)
        request = ctypes.c_int(OPUS_GET_LOOKAHEAD_REQUEST)
        _check(
            self._lib.opus_encoder_ctl(ctypes.c_void_p(self._state), request, ctypes.byref(value)),
            "OPUS_GET_LOOKAHEAD",
        )
        return value.value

    def encode(self, pcm: np.ndarray) -> bytes:
        """One packet from one frame of int16 PCM, shape (samples, channels); samples a valid frame size."""
        frame = np.ascontiguousarray(pcm, dtype=np.int16)
        if frame.ndim != 2 or frame.shape[1] != self.channels:
            raise ValueError(f"PCM must have shape (samples, {self.channels})")
        pointer = frame.ctypes.data_as(ctypes.POINTER(ctypes.c_int16))
        length = _check(
            self._lib.opus_encode(self._state, pointer, frame.shape[0], self._out, MAX_PACKET_BYTES),
            "opus_encode",
        )
        return self._out.raw[:length]

    def close(self) -> None:
        if self._state:
            self._lib.opus_encoder_destroy(self._state)
            self._state = None

    def __del__(self) -> None:
        self.close()
