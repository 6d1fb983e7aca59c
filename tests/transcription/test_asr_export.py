"""The CTranslate2 reader and the export to an openai-whisper checkpoint (same weights, strict load)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from asr_support import clip_audio

from transcription.ctranslate2_file import read_model_bin
from transcription.engines import FasterWhisperEngine, OpenAIWhisperEngine
from transcription.engines.openaiwhisper import checkpoint_for
from transcription.errors import ModelIntegrityError, ModelNotFoundError
from transcription.export import export_openai_checkpoint, openai_state_dict
from transcription.models import ModelInfo, discover_model

BASE_DIMS = {
    "n_mels": 80,
    "n_audio_ctx": 1500,
    "n_audio_state": 512,
    "n_audio_head": 8,
    "n_audio_layer": 6,
    "n_vocab": 51865,
    "n_text_ctx": 448,
    "n_text_state": 512,
    "n_text_head": 8,
    "n_text_layer": 6,
}


def test_reader_parses_the_whole_base_model(packaged_model: ModelInfo) -> None:
    model = read_model_bin(packaged_model.path / "model.bin")
    assert (model.spec_name, model.revision) == ("WhisperSpec", 3)
    v = model.variables
    assert v["decoder/embeddings/weight"].shape == (51865, 512)
    assert v["decoder/projection/weight"] is v["decoder/embeddings/weight"]  # the one alias
    assert v["encoder/conv1/weight"].shape == (512, 80, 3)
    assert int(v["encoder/num_heads"]) == 8
    assert v["encoder/layer_5/self_attention/linear_0/weight"].dtype == np.float16


def test_reader_rejects_a_truncated_file(packaged_model: ModelInfo, tmp_path: Path) -> None:
    cut = tmp_path / "model.bin"
    with open(packaged_model.path / "model.bin", "rb") as source:
        cut.write_bytes(source.read(5_000_000))
    with pytest.raises(ModelIntegrityError, match="truncated"):
        read_model_bin(cut)


def test_state_dict_splits_fused_projections(packaged_model: ModelInfo) -> None:
    dims, state = openai_state_dict(packaged_model.path)
    assert dims == BASE_DIMS
    variables = read_model_bin(packaged_model.path / "model.bin").variables
    fused = variables["decoder/layer_2/self_attention/linear_0/weight"]
    assert np.array_equal(state["decoder.blocks.2.attn.query.weight"], fused[:512])
    assert np.array_equal(state["decoder.blocks.2.attn.key.weight"], fused[512:1024])
    assert np.array_equal(state["decoder.blocks.2.attn.value.weight"], fused[1024:])
    kv = variables["decoder/layer_2/attention/linear_1/weight"]
    assert np.array_equal(state["decoder.blocks.2.cross_attn.value.weight"], kv[512:])
    assert not [name for name in state if name.endswith("key.bias")]


@pytest.mark.asr
def test_exported_checkpoint_matches_ctranslate2(
    openai_engine: OpenAIWhisperEngine, packaged_model: ModelInfo, checkpoint_dir: Path
) -> None:
    """The openai-whisper encoder on the exported weights gives CTranslate2's encoder output (float32)."""
    import ctranslate2
    import torch
    import whisper

    path = checkpoint_for(packaged_model, checkpoint_dir)
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    assert checkpoint["dims"] == BASE_DIMS
    assert checkpoint["alignment_heads"] and all(len(pair) == 2 for pair in checkpoint["alignment_heads"])
    mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(torch.from_numpy(clip_audio("GB10"))))[None]
    with torch.inference_mode():
        ours = openai_engine._model.encoder(mel).numpy()
    reference = ctranslate2.models.Whisper(str(packaged_model.path), device="cpu", compute_type="float32")
    theirs = np.array(reference.encode(ctranslate2.StorageView.from_array(mel.numpy())))
    assert ours.shape == theirs.shape == (1, 1500, 512)
    assert float(np.abs(ours - theirs).max()) < 1e-2
    assert float(np.abs(ours).mean()) > 0.1  # not trivially equal


@pytest.mark.asr
def test_explicit_openai_checkpoint_is_discovered(
    openai_engine: OpenAIWhisperEngine, packaged_model: ModelInfo, checkpoint_dir: Path, tmp_path: Path
) -> None:
    path = checkpoint_for(packaged_model, checkpoint_dir)
    info = discover_model(path)
    assert (info.format, info.source, info.path) == ("openai-whisper", "setting", path)
    assert checkpoint_for(info, tmp_path) == path  # used as it is, not exported again
    with pytest.raises(ModelNotFoundError, match="CTranslate2"):
        FasterWhisperEngine(info)


def test_export_refuses_a_non_whisper_folder(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"\x06\x00\x00\x00")
    with pytest.raises(ModelIntegrityError):
        export_openai_checkpoint(tmp_path, tmp_path / "out.pt")
    assert not (tmp_path / "out.pt").exists()
