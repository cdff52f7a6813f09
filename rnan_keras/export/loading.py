"""``load_exported``: open an export in its runtime after checking it against its manifest."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from rnan_keras.errors import InvalidImageError, ModelLoadError
from rnan_keras.export.formats import FORMATS, get_format
from rnan_keras.export.manifest import check_checksum, read_manifest


class ExportedModel:
    """An export opened in its own runtime (TensorFlow, LiteRT or onnxruntime).

    Call it with ``(H, W, C)`` or ``(B, H, W, C)`` images on 0-255 (any numeric dtype: they
    are converted to the export's input dtype, rounded and clipped for a uint8 export); it
    returns the same rank, ``scale`` times larger for SR, in the export's output dtype.
    """

    def __init__(self, path: Path, manifest: dict[str, Any], runner: Any) -> None:
        self.path = path
        self.manifest = manifest
        self.format = manifest["format"]
        self.runner = runner

    @property
    def scale(self) -> int:
        return int(self.manifest.get("scale", 1))

    def __call__(self, image: np.ndarray) -> np.ndarray:
        array = np.asarray(image)
        if array.ndim not in (3, 4):
            raise InvalidImageError(
                f"expected an (H, W, C) or (B, H, W, C) image, got {array.shape}"
            )
        channels = self.manifest.get("n_colors")
        if channels is not None and array.shape[-1] != channels:
            raise InvalidImageError(
                f"this export takes {channels}-channel images, got shape {array.shape}"
            )
        batch = array if array.ndim == 4 else array[None]
        if self.runner.input_dtype == np.uint8 and batch.dtype != np.uint8:
            batch = np.clip(np.round(batch), 0, 255).astype(np.uint8)
        out = self.runner(np.ascontiguousarray(batch, dtype=self.runner.input_dtype))
        return out if array.ndim == 4 else out[0]

    def __repr__(self) -> str:
        return f"ExportedModel({self.format!r}, {str(self.path)!r})"


def load_exported(
    path: str | os.PathLike, *, verify: bool = True, num_threads: int | None = None
) -> ExportedModel:
    """Open the export at ``path`` (written by :func:`rnan_keras.export`).

    Args:
        path: the ``.tflite`` / ``.onnx`` file or the SavedModel directory.
        verify: check the sha256 recorded in the manifest before loading.
        num_threads: CPU threads for LiteRT / onnxruntime (default: their own choice).

    Raises:
        ModelLoadError: missing manifest or export, checksum mismatch (corrupted or modified
            file), or the runtime cannot open it.
    """
    path = Path(path)
    manifest = read_manifest(path)
    fmt = manifest.get("format")
    if fmt not in FORMATS:
        raise ModelLoadError(f"manifest of {path} names an unknown format {fmt!r}")
    if verify:
        check_checksum(path, manifest)
    elif not path.exists():
        raise ModelLoadError(f"export {path} does not exist")
    try:
        runner = get_format(fmt).load(path, num_threads=num_threads)
    except Exception as exc:  # noqa: BLE001 - each runtime has its own errors
        raise ModelLoadError(f"{fmt} runtime cannot open {path}: {exc}") from None
    return ExportedModel(path, manifest, runner)
