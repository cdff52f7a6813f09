"""Validation during training: whole images, PSNR on the task's channel.

PSNR protocol (the paper's evaluation, from :mod:`rnan_keras.tasks`): the restored image is
clipped to [0, 255] and rounded, then measured with :func:`rnan_keras.metrics.psnr` on the
task's channels with its crop border.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from rnan_keras.metrics import psnr
from rnan_keras.tasks import get_task


@dataclass(frozen=True)
class PSNRProtocol:
    """How PSNR is measured for a task: ``y_channel`` and ``crop_border`` in pixels."""

    y_channel: bool
    crop_border: int


def psnr_protocol(task: str) -> PSNRProtocol:
    """The validation PSNR protocol of a task (from :mod:`rnan_keras.tasks`)."""
    info = get_task(task)
    return PSNRProtocol(y_channel=info.y_channel, crop_border=info.crop_border)


def image_psnr(restored: np.ndarray, clean: np.ndarray, task: str) -> float:
    """PSNR (dB) of one restored HWC image against its clean HWC target, 0-255 scale."""
    proto = psnr_protocol(task)
    restored = np.clip(np.round(np.asarray(restored, np.float64)), 0, 255)
    clean = np.asarray(clean, np.float64)
    if restored.shape != clean.shape:
        raise ValueError(f"restored shape {restored.shape} != clean shape {clean.shape}")
    return float(psnr(restored, clean, data_range=255, crop_border=proto.crop_border,
                      y_channel=proto.y_channel))


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


def _tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    if size <= tile:
        return [0]
    stride = max(1, tile - overlap)
    starts = list(range(0, size - tile, stride))
    return [*starts, size - tile]


def predict_in_tiles(fn: Callable, x: np.ndarray, tile: int, overlap: int = 8,
                     batch: int = 8) -> np.ndarray:
    """Run ``fn`` (NHWC -> NHWC, output ``s`` times larger) on overlapping ``tile``-pixel
    tiles of one HWC image and average the overlaps. All tiles have the same size (edge
    tiles are shifted inwards), so they are batched ``batch`` at a time."""
    h, w = x.shape[:2]
    th, tw = min(tile, h), min(tile, w)
    boxes = [(i, j) for i in _tile_starts(h, th, overlap) for j in _tile_starts(w, tw, overlap)]
    out = weight = None
    for k in range(0, len(boxes), batch):
        chunk = boxes[k:k + batch]
        tiles = np.stack([x[i:i + th, j:j + tw] for i, j in chunk])
        pred = np.asarray(fn(tf.constant(tiles, tf.float32)), np.float32)
        s = pred.shape[1] // th
        if out is None:
            out = np.zeros((h * s, w * s, pred.shape[-1]), np.float32)
            weight = np.zeros((h * s, w * s, 1), np.float32)
        for (i, j), p in zip(chunk, pred):
            out[i * s:(i + th) * s, j * s:(j + tw) * s] += p
            weight[i * s:(i + th) * s, j * s:(j + tw) * s] += 1.0
    return out / weight


def make_predictor(model, tile: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """A function HWC -> HWC running ``model`` on one image: whole when ``tile == 0`` and
    the image has at most 96x96 pixels, else in overlapping tiles of ``tile`` (default 64)
    pixels. (The non-local blocks cost O((HW)^2), so whole large images are very slow.)"""
    fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def predict(x: np.ndarray) -> np.ndarray:
        h, w = x.shape[:2]
        size = tile or (64 if h * w > 96 * 96 else 0)
        if size and (h > size or w > size):
            return predict_in_tiles(fn, x, size, overlap=max(4, size // 8))
        return np.asarray(fn(tf.constant(x[None], tf.float32)), np.float32)[0]

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
