"""Convert CTranslate2 Whisper weights into an openai-whisper checkpoint, so openai-whisper runs offline on
the same weights (no PyPI package ships openai-whisper checkpoints).

The checkpoint is ``{"dims": ModelDimensions as a dict, "model_state_dict": …, "alignment_heads": [[layer,
head], …]}`` (the last key is ours; ``whisper.load_model`` ignores it). CTranslate2 fuses the self-attention
query/key/value (and the cross-attention key/value) projections; they are split here, and the key bias that
openai-whisper does not have (CTranslate2 stores zeros) is dropped after checking it is zero. The state dict
loads with ``strict=True``.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from transcription.ctranslate2_file import read_model_bin
from transcription.errors import EngineUnavailableError, ModelIntegrityError

logger = logging.getLogger(__name__)

Array = npt.NDArray[np.generic]


def _weight(variables: dict[str, Array], scope: str) -> Array:
    weight = variables[f"{scope}/weight"]
    scale = variables.get(f"{scope}/weight_scale")
    if scale is not None:  # int8-quantised model: CTranslate2 stores round(w * scale) per output row
        return weight.astype(np.float32) / scale.astype(np.float32).reshape(-1, *([1] * (weight.ndim - 1)))
    return weight


def _linear(variables: dict[str, Array], scope: str, prefix: str, out: dict[str, Array]) -> None:
    out[f"{prefix}.weight"] = _weight(variables, scope)
    out[f"{prefix}.bias"] = variables[f"{scope}/bias"]


def _layer_norm(variables: dict[str, Array], scope: str, prefix: str, out: dict[str, Array]) -> None:
    out[f"{prefix}.weight"] = variables[f"{scope}/gamma"]
    out[f"{prefix}.bias"] = variables[f"{scope}/beta"]


def _split_fused(
    variables: dict[str, Array], scope: str, names: tuple[str, ...], prefix: str, out: dict[str, Array]
) -> None:
    """Split a fused projection (rows stacked in ``names`` order) into separate openai-whisper Linears."""
    weight = _weight(variables, scope)
    bias = variables[f"{scope}/bias"]
    parts = len(names)
    for index, (w, b) in enumerate(zip(np.split(weight, parts), np.split(bias, parts), strict=True)):
        name = names[index]
        out[f"{prefix}.{name}.weight"] = w
        if name == "key":
            if np.any(b.astype(np.float32) != 0.0):
                raise ModelIntegrityError(f"{scope}: key bias is not zero; openai-whisper has no key bias")
            continue
        out[f"{prefix}.{name}.bias"] = b


def _block(
    variables: dict[str, Array], scope: str, prefix: str, out: dict[str, Array], *, cross: bool
) -> None:
    _split_fused(
        variables, f"{scope}/self_attention/linear_0", ("query", "key", "value"), f"{prefix}.attn", out
    )
    _linear(variables, f"{scope}/self_attention/linear_1", f"{prefix}.attn.out", out)
    _layer_norm(variables, f"{scope}/self_attention/layer_norm", f"{prefix}.attn_ln", out)
    if cross:
        _linear(variables, f"{scope}/attention/linear_0", f"{prefix}.cross_attn.query", out)
        _split_fused(variables, f"{scope}/attention/linear_1", ("key", "value"), f"{prefix}.cross_attn", out)
        _linear(variables, f"{scope}/attention/linear_2", f"{prefix}.cross_attn.out", out)
        _layer_norm(variables, f"{scope}/attention/layer_norm", f"{prefix}.cross_attn_ln", out)
    _linear(variables, f"{scope}/ffn/linear_0", f"{prefix}.mlp.0", out)
    _linear(variables, f"{scope}/ffn/linear_1", f"{prefix}.mlp.2", out)
    _layer_norm(variables, f"{scope}/ffn/layer_norm", f"{prefix}.mlp_ln", out)


def _count_layers(variables: dict[str, Array], stack: str) -> int:
    count = 0
    while f"{stack}/layer_{count}/ffn/linear_0/bias" in variables:
        count += 1
    return count


def openai_state_dict(ct2_dir: Path) -> tuple[dict[str, int], dict[str, Array]]:
    """Model dimensions and the openai-whisper state dict (numpy arrays) of a CTranslate2 Whisper folder."""
    model = read_model_bin(ct2_dir / "model.bin")
    if model.spec_name != "WhisperSpec":
        raise ModelIntegrityError(f"{ct2_dir}: a {model.spec_name} model, not Whisper")
    v = model.variables
    enc_layers, dec_layers = _count_layers(v, "encoder"), _count_layers(v, "decoder")
    n_mels = int(v["encoder/conv1/weight"].shape[1])
    dims = {
        "n_mels": n_mels,
        "n_audio_ctx": int(v["encoder/position_encodings/encodings"].shape[0]),
        "n_audio_state": int(v["encoder/conv1/weight"].shape[0]),
        "n_audio_head": int(v["encoder/num_heads"]),
        "n_audio_layer": enc_layers,
        "n_vocab": int(v["decoder/embeddings/weight"].shape[0]),
        "n_text_ctx": int(v["decoder/position_encodings/encodings"].shape[0]),
        "n_text_state": int(v["decoder/embeddings/weight"].shape[1]),
        "n_text_head": int(v["decoder/num_heads"]),
        "n_text_layer": dec_layers,
    }
    out: dict[str, Array] = {}
    _linear(v, "encoder/conv1", "encoder.conv1", out)
    _linear(v, "encoder/conv2", "encoder.conv2", out)
    out["encoder.positional_embedding"] = v["encoder/position_encodings/encodings"]
    for i in range(enc_layers):
        _block(v, f"encoder/layer_{i}", f"encoder.blocks.{i}", out, cross=False)
    _layer_norm(v, "encoder/layer_norm", "encoder.ln_post", out)
    out["decoder.token_embedding.weight"] = v["decoder/embeddings/weight"]
    out["decoder.positional_embedding"] = v["decoder/position_encodings/encodings"]
    for i in range(dec_layers):
        _block(v, f"decoder/layer_{i}", f"decoder.blocks.{i}", out, cross=True)
    _layer_norm(v, "decoder/layer_norm", "decoder.ln", out)
    return dims, out


def _alignment_heads(ct2_dir: Path) -> list[list[int]]:
    config_path = ct2_dir / "config.json"
    if not config_path.is_file():
        return []
    config: dict[str, Any] = json.loads(config_path.read_text(encoding="utf-8"))
    return [[int(layer), int(head)] for layer, head in config.get("alignment_heads") or []]


def export_openai_checkpoint(ct2_dir: Path, out_path: Path) -> Path:
    """Write an openai-whisper checkpoint of the CTranslate2 Whisper model in ``ct2_dir`` to ``out_path``.

    The state dict is checked by a strict load into ``whisper.model.Whisper`` before the file is renamed
    into place (atomic: a reader never sees a half-written checkpoint). Needs torch and openai-whisper.
    """
    try:
        import torch
        from whisper.model import ModelDimensions, Whisper
    except ImportError as exc:
        raise EngineUnavailableError(
            "openai-whisper is not installed: pip install torch==2.13.0 && pip install openai-whisper"
        ) from exc
    ct2_dir, out_path = Path(ct2_dir), Path(out_path)
    dims, arrays = openai_state_dict(ct2_dir)
    state = {name: torch.from_numpy(np.array(array, copy=True)) for name, array in arrays.items()}
    Whisper(ModelDimensions(**dims)).load_state_dict(state, strict=True)
    checkpoint = {"dims": dims, "model_state_dict": state, "alignment_heads": _alignment_heads(ct2_dir)}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{out_path.name}.tmp-", dir=out_path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            torch.save(checkpoint, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp_name, out_path)
    finally:
        if os.path.exists(temp_name):
            os.unlink(temp_name)
    logger.info("exported %s to the openai-whisper checkpoint %s", ct2_dir, out_path)
    return out_path
