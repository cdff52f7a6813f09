"""The JSON manifest written beside every export, and the checksum it carries.

``model.tflite`` gets ``model.tflite.manifest.json``; a SavedModel directory ``model_sm``
gets ``model_sm.manifest.json``. The ``sha256`` of a file is that of its bytes; that of a
directory is the sha256 of the lines ``<relative posix path>\\0<sha256 of the file>\\n`` for
every file under it, sorted by path (so it does not depend on listing order or timestamps).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from rnan_keras.errors import ModelLoadError
from rnan_keras.export.files import write_json

MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_VERSION = 1
DIRECTORY_HASH_METHOD = "sha256 of '<relative posix path>\\0<file sha256>\\n' per file, sorted"


def manifest_path(path: str | Path) -> Path:
    """Where the manifest of the export at ``path`` lives."""
    path = Path(path)
    return path.with_name(path.name + MANIFEST_SUFFIX)


def _file_sha256(path: Path) -> str:
    from rnan_keras.presets.registry import sha256_file

    return sha256_file(path)


def sha256_of(path: str | Path) -> str:
    """Checksum of a file, or of a directory tree as described in the module docstring."""
    path = Path(path)
    if not path.is_dir():
        return _file_sha256(path)
    files = sorted(p for p in path.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for file in files:
        rel = file.relative_to(path).as_posix()
        digest.update(f"{rel}\0{_file_sha256(file)}\n".encode())
    return digest.hexdigest()


def write_manifest(artefact: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as the manifest of ``artefact`` (atomically); returns its path."""
    path = manifest_path(artefact)
    write_json(path, data)
    return path


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of the export at ``path``; :class:`ModelLoadError` if missing or invalid."""
    mpath = manifest_path(path)
    if not mpath.is_file():
        raise ModelLoadError(
            f"no manifest found for {path} (expected {mpath}); was it exported with rnan_keras?"
        )
    try:
        data = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"manifest {mpath} is unreadable or not JSON: {exc}") from None
    if not isinstance(data, dict) or "sha256" not in data or "format" not in data:
        raise ModelLoadError(f"manifest {mpath} lacks the 'format' / 'sha256' fields")
    return data


def check_checksum(path: str | Path, manifest: dict[str, Any]) -> None:
    """Raise :class:`ModelLoadError` unless ``path`` hashes to the manifest's sha256."""
    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"export {path} does not exist")
    actual = sha256_of(path)
    if actual != manifest["sha256"]:
        raise ModelLoadError(
            f"export {path} is corrupted or was modified: sha256 {actual[:16]}... does not "
            f"match {manifest['sha256'][:16]}... recorded in {manifest_path(path).name}; "
            "re-export it"
        )
