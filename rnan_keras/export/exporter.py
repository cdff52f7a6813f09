"""``export``: write a verified SavedModel, TFLite or ONNX file with a JSON manifest.

Steps: build the serving graph (:mod:`.serving`: dynamic B/H/W, odd sizes, fixed-size
tiles), convert it in a temporary folder beside the target (:mod:`.formats`), run the
artefact in its own runtime on probes cut from a real image and compare with the Keras
model (:mod:`.parity`), and only if that passes rename it into place and write the
manifest (:mod:`.manifest`). A failed check raises :class:`ExportError` and leaves nothing.
"""

from __future__ import annotations

import datetime as _dt
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnan_keras.errors import ConfigError, ExportError
from rnan_keras.export import files, manifest, parity
from rnan_keras.export.formats import FORMATS, get_format
from rnan_keras.export.formats.onnx import DEFAULT_OPSET, check_opset
from rnan_keras.export.formats.tflite import check_quantization
from rnan_keras.export.serving import (
    INPUT_NAME,
    OUTPUT_NAME,
    SIGNATURE_KEY,
    ServingModule,
    ServingSpec,
    expected_output,
    model_info,
)
from rnan_keras.export.tiling import DEFAULT_OVERLAP, DEFAULT_TILE


@dataclass
class ExportResult:
    """What :func:`export` wrote: the artefact, its manifest, and the manifest's content."""

    path: Path
    manifest_path: Path
    manifest: dict[str, Any] = field(repr=False)

    @property
    def parity(self) -> dict[str, Any]:
        return self.manifest["parity"]


def _load_model(model: Any):
    """The model to export: a ``keras.Model``, a ``.keras`` file or a preset name."""
    from rnan_keras.models.resolve import resolve_model

    return resolve_model(model, cache=False)


def _versions(extra: dict[str, Any]) -> dict[str, Any]:
    import keras
    import tensorflow as tf

    from rnan_keras.version import __version__

    return {"rnan_keras": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
            **extra}


def _verify(
    fmt: str,
    artefact: Path,
    model,
    serving: ServingModule,
    probes: list[parity.Probe],
    tolerance: float | None,
) -> list[dict[str, Any]]:
    """Run the artefact on every probe; raise :class:`ExportError` if it disagrees."""
    try:
        runner = get_format(fmt).load(artefact)
    except Exception as exc:  # noqa: BLE001 - any runtime failure to open it
        raise ExportError(f"the {fmt} export could not be loaded in its runtime: {exc}") from None
    figures = []
    for probe in probes:
        expected = expected_output(model, probe.image, serving.spec)
        try:
            got = np.asarray(runner(probe.image))
        except Exception as exc:  # noqa: BLE001 - any runtime failure to run it
            raise ExportError(
                f"the {fmt} export failed on a {probe.image.shape} probe: {exc}"
            ) from None
        if got.shape != expected.shape:
            raise ExportError(
                f"the {fmt} export returned shape {got.shape} for input {probe.image.shape}; "
                f"Keras returns {expected.shape}"
            )
        item = parity.compare(got, expected, probe)
        figures.append(item)
        if not item["finite"]:
            raise ExportError(f"the {fmt} export returned NaN/inf for a {probe.size} probe")
        if tolerance is not None and item["max_abs_diff"] > tolerance:
            raise ExportError(
                f"the {fmt} export differs from the Keras model by up to "
                f"{item['max_abs_diff']:.4g} (tolerance {tolerance:g} on 0-255) on a "
                f"{probe.size[0]}x{probe.size[1]} probe; nothing was written"
            )
    return figures


def export(
    model: Any,
    path: str | os.PathLike,
    format: str = "savedmodel",
    *,
    quantization: str = "float32",
    uint8: bool = False,
    tile: int | None = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    opset: int = DEFAULT_OPSET,
    reference_image: Any = None,
    probe_sizes: list[tuple[int, int]] | None = None,
    tolerance: float | None = None,
    overwrite: bool = False,
) -> ExportResult:
    """Export ``model`` to ``path`` after checking the export against Keras.

    Args:
        model: a ``keras.Model`` (an RNAN from ``build_model`` / a preset) or a ``.keras`` file.
        path: target file (``.tflite`` / ``.onnx``) or directory (SavedModel).
        format: ``"savedmodel"``, ``"tflite"`` or ``"onnx"``.
        quantization: TFLite only: ``"float32"``, ``"float16"`` (weights) or
            ``"dynamic_int8"`` (dynamic-range int8).
        uint8: serving input/output uint8 (rounded and clipped in the graph) instead of
            float32 on 0-255.
        tile, overlap: the exported graph runs the network on ``tile x tile`` windows with
            ``overlap`` pixels of blending, bounding memory on large images (see
            :mod:`rnan_keras.export.tiling`); ``tile=None`` runs whole images (the non-local
            memory then grows as ``(H * W)^2``).
        opset: ONNX only: 17 (default) or 18.
        reference_image: path or array of the real image the probes are cut from (default:
            a packaged or shared test photograph).
        probe_sizes: input sizes ``(H, W)`` of the probes (default: two odd sizes, one
            within a tile and one spanning several).
        tolerance: fail when max ``|export - keras|`` exceeds it (0-255 scale). Default
            1e-2 for float32 (1.0 with ``uint8``), no threshold for float16 / int8 (their
            figures are still reported).
        overwrite: replace an existing ``path``.

    Returns:
        :class:`ExportResult` with the paths and the manifest (parity figures included).

    Raises:
        ExportError: conversion failed or the export disagrees with Keras (nothing written).
        ConfigError: an unknown format / quantization / opset or an invalid tile setting.
        ModelLoadError: ``model`` is a file that cannot be loaded.
    """
    fmt = str(format).lower()
    get_format(fmt)
    quantization = check_quantization(quantization)
    if fmt != "tflite" and quantization != "float32":
        raise ConfigError(f"quantization={quantization!r} applies to tflite only, not {fmt}")
    if fmt == "onnx":
        check_opset(opset)
    try:
        spec = ServingSpec(tile=tile, overlap=overlap, uint8=bool(uint8))
    except ExportError as exc:
        raise ConfigError(str(exc)) from None
    if tolerance is None and quantization == "float32":
        tolerance = parity.UINT8_TOLERANCE if spec.uint8 else parity.DEFAULT_TOLERANCE

    target = Path(path)
    if target.exists() and not overwrite:
        raise ExportError(
            f"{target} already exists; pass overwrite=True (--overwrite) to replace it"
        )
    model = _load_model(model)
    info = model_info(model)
    sizes = probe_sizes or parity.default_probe_sizes(spec.tile, info["variant"])
    sizes = [(int(h), int(w)) for h, w in sizes]
    probes, source = parity.make_probes(
        info["variant"], info["scale"], info["n_colors"], sizes, reference_image, spec.uint8
    )

    started = time.perf_counter()
    serving = ServingModule(model, spec)
    with files.staging_dir(target) as tmp:
        staged = tmp / target.name
        try:
            facts = get_format(fmt).write(serving, staged, quantization=quantization, opset=opset)
        except (ExportError, ConfigError):
            raise
        except Exception as exc:  # noqa: BLE001 - converters raise anything
            raise ExportError(f"{fmt} conversion failed: {type(exc).__name__}: {exc}") from None
        figures = _verify(fmt, staged, model, serving, probes, tolerance)
        data = {
            "manifest_version": manifest.MANIFEST_VERSION,
            "format": fmt,
            "file": target.name,
            "sha256": manifest.sha256_of(staged),
            "sha256_method": "file bytes" if staged.is_file() else manifest.DIRECTORY_HASH_METHOD,
            "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "variant": info["variant"],
            "n_colors": info["n_colors"],
            "scale": info["scale"],
            "config": info["config"],
            "signature": {
                "name": SIGNATURE_KEY,
                "input": {
                    "name": INPUT_NAME,
                    "dtype": spec.dtype,
                    "shape": [None, None, None, info["n_colors"]],
                    "layout": "NHWC",
                    "range": [0, 255],
                },
                "output": {
                    "name": OUTPUT_NAME,
                    "dtype": spec.dtype,
                    "shape": [None, None, None, info["n_colors"]],
                    "layout": "NHWC",
                    "spatial_scale": info["scale"],
                    "range": "0-255, not clipped" if not spec.uint8 else "0-255, rounded",
                },
            },
            "tiling": {"tile": spec.tile, "overlap": spec.overlap},
            "quantization": quantization if fmt == "tflite" else "float32",
            "opset": facts.get("opset"),
            "versions": _versions(facts),
            "parity": {
                "reference": "float32 Keras model via rnan_keras.inference.tiling."
                "predict_tiled (same tile and overlap; whole image within one tile)",
                "reference_image": source,
                "tolerance": tolerance,
                "probes": figures,
            },
            "export_seconds": round(time.perf_counter() - started, 2),
        }
        files.place(staged, target)
        mpath = manifest.write_manifest(target, data)
    return ExportResult(path=target, manifest_path=mpath, manifest=data)


__all__ = ["FORMATS", "ExportResult", "export"]
