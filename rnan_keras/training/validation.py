"""Validation during training: whole images, PSNR by the task's evaluation protocol.

PSNR protocol: :func:`rnan_keras.inference.evaluate.image_psnr` (the one protocol of
``rnan eval``): the restored image is quantised to 0-255, then measured with
:func:`rnan_keras.metrics.psnr` on the task's channel with its crop border (from
:mod:`rnan_keras.tasks`). Large images are run in tiles by
:func:`rnan_keras.inference.tiling.predict_tiled` (the tiler of ``restore``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np

from rnan_keras.inference.evaluate import image_psnr
from rnan_keras.inference.tiling import model_scale, predict_tiled

#: Validation images with more pixels than this are run in tiles of :data:`VAL_TILE`.
WHOLE_IMAGE_PIXELS = 96 * 96
VAL_TILE = 64


def load_eval_pairs(task: str, folder: str, *, sigma=None, quality=None,
                    max_images: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Degraded/clean HWC float32 pairs of a validation folder (fixed degradation seed 0).

    A blind training range (``sigma=(lo, hi)`` / ``quality=(lo, hi)``) is validated at its
    midpoint, rounded (e.g. sigma 0-75 -> 38, quality 10-40 -> 25).
    """
    from rnan_keras.data.pipeline import make_eval_dataset

    if isinstance(sigma, list | tuple):
        sigma = float(round((float(sigma[0]) + float(sigma[1])) / 2))
    if isinstance(quality, list | tuple):
        quality = round((int(quality[0]) + int(quality[1])) / 2)
    kwargs = {}
    if sigma is not None:
        kwargs["sigma"] = sigma
    if quality is not None:
        kwargs["quality"] = quality
    ds = make_eval_dataset(task, folder, seed=0, **kwargs)
    pairs = []
    for item in ds:
        degraded, clean = item[0], item[1]
        degraded, clean = np.asarray(degraded, np.float32), np.asarray(clean, np.float32)
        if degraded.ndim == 4:
            degraded, clean = degraded[0], clean[0]
        pairs.append((degraded, clean))
        if max_images and len(pairs) >= max_images:
            break
    return pairs


def pairs_fingerprint(pairs) -> str:
    """Hash of the validation pairs' pixels and shapes (16 hex digits): a resumed run whose
    validation set changed re-scores its best model instead of comparing PSNRs of two sets."""
    digest = hashlib.sha256()
    for degraded, clean in pairs:
        for arr in (degraded, clean):
            arr = np.ascontiguousarray(arr, np.float32)
            digest.update(str(arr.shape).encode())
            digest.update(arr.tobytes())
    return digest.hexdigest()[:16]


def make_predictor(model, tile: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """A function HWC -> HWC running ``model`` on one image: whole when ``tile == 0`` and
    the image has at most 96x96 pixels, else in tiles of ``tile`` (default 64) pixels
    overlapping by ``max(4, tile // 8)``, blended by :func:`predict_tiled`. (The non-local
    blocks cost O((HW)^2), so whole large images are very slow.)"""
    scale = None  # found on the first call (by a probe when the model has no RNAN config)

    def predict(x: np.ndarray) -> np.ndarray:
        nonlocal scale
        h, w, c = x.shape
        if scale is None:
            scale = model_scale(model, c)
        size = tile or (VAL_TILE if h * w > WHOLE_IMAGE_PIXELS else None)
        overlap = max(4, size // 8) if size else 0
        return predict_tiled(model, x, size, overlap, scale=scale)

    return predict


def validate(predict: Callable[[np.ndarray], np.ndarray], pairs, task: str):
    """Mean PSNR over ``pairs`` and the (degraded, restored, clean) triple of the first one."""
    scores, first = [], None
    for degraded, clean in pairs:
        restored = predict(degraded)
        scores.append(image_psnr(restored, clean, task))
        if first is None:
            first = (degraded, restored, clean)
    return (float(np.mean(scores)) if scores else float("nan")), first


def comparison_strip(degraded: np.ndarray, restored: np.ndarray, clean: np.ndarray):
    """One [1, H, 3W, C] image in [0, 1]: degraded (nearest-upscaled for SR) | restored | clean."""
    h, w = clean.shape[:2]
    if degraded.shape[:2] != (h, w):
        fy, fx = -(-h // degraded.shape[0]), -(-w // degraded.shape[1])
        degraded = np.repeat(np.repeat(degraded, fy, axis=0), fx, axis=1)[:h, :w]
    strip = np.concatenate([degraded, np.clip(restored, 0, 255), clean], axis=1)
    return (strip[None] / 255.0).astype(np.float32)
