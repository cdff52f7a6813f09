"""Tiled inference: run a model on overlapping tiles and blend them without seams.

The image is covered by tiles of ``tile x tile`` pixels (input space) that overlap by at
least ``overlap`` pixels. Every tile is restored on its own and the outputs are averaged
with smooth weights (normalised by their sum at every pixel): inside an overlap the weight of one tile falls from 1 to 0 along a
raised cosine (``cos^2``) while its neighbour's rises, so the weights of the two tiles sum
to one and no seam is visible. The outer quarter of each overlap on either side is given
weight zero, which throws away the tile-border pixels that see zero padding; for a model
whose receptive field radius is at most ``overlap / 4`` the result equals the untiled
output exactly. Weights are built per axis, so a pixel where four tiles meet gets the
product weights (which still sum to one).

Super-resolution models are tiled in the low-resolution input space; tiles are placed at
``scale x`` their input position in the output, and the weights are built in output space.

Tile starts are kept even (``align=2``) so that the stride-2 mask branch of RNAN sees the
same pixel phase as in an untiled run.

Note: RNAN's non-local attention then sees one tile, not the whole image, like the official
``forward_chop``. For whole-image attention use ``tile="none"`` in
:func:`rnan_keras.restore`, which runs the chunked (exact, memory O(HW x chunk)) non-local
computation on the full image.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rnan_keras.errors import ConfigError, InvalidImageError

_FUNCTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# Added to every blending weight so that the normalising sum is never zero (where three
# tiles overlap on small images); small enough not to matter anywhere else.
_EPS = 1e-6


def model_function(model) -> Callable[[np.ndarray], np.ndarray]:
    """A cached ``tf.function`` running ``model`` in inference mode on any NHWC shape.

    Takes and returns numpy float32 ``(B, H, W, C)`` arrays; traced once per model.
    """
    cached = _FUNCTIONS.get(model)
    if cached is not None:
        return cached
    import tensorflow as tf

    channels = model.inputs[0].shape[-1] if getattr(model, "inputs", None) else None
    spec = tf.TensorSpec([None, None, None, channels], tf.float32)

    @tf.function(input_signature=[spec])
    def run(x):
        return tf.cast(model(x, training=False), tf.float32)

    def call(x: np.ndarray) -> np.ndarray:
        return run(tf.convert_to_tensor(np.asarray(x, dtype=np.float32))).numpy()

    _FUNCTIONS[model] = call
    return call


def model_scale(model, channels: int | None = None) -> int:
    """Output/input size ratio of ``model`` (1 for same-size tasks), from its config or a probe."""
    cfg = getattr(model, "rnan_config", None)
    if cfg is not None:
        return int(cfg.scale)
    if channels is None:
        channels = int(model.inputs[0].shape[-1])
    probe = np.zeros((1, 8, 8, channels), np.float32)
    out = model_function(model)(probe)
    scale = out.shape[1] / 8
    if scale != int(scale) or out.shape[2] != out.shape[1]:
        raise ConfigError(f"cannot infer an integer scale from the model ({out.shape})")
    return int(scale)


@dataclass(frozen=True)
class Span:
    """One tile along one axis: input ``[start, stop)``; blending ramps in input pixels."""

    start: int
    stop: int


def tile_spans(length: int, tile: int, overlap: int, align: int = 2) -> list[Span]:
    """Cover ``[0, length)`` with spans of ``tile`` pixels overlapping by >= ``overlap``.

    Starts are multiples of ``align`` except possibly the last, which is moved to end
    exactly at ``length`` (it may then be up to ``align - 1`` pixels longer than ``tile``).
    A length no larger than ``tile`` gives one span.
    """
    if tile <= 0:
        raise ConfigError(f"tile must be positive, got {tile}")
    if length <= tile:
        return [Span(0, length)]
    overlap = max(0, min(int(overlap), tile // 2))
    # Spacing of the (unaligned) starts is at most ``stride``; rounding each start down to a
    # multiple of ``align`` then keeps every overlap >= ``overlap``.
    stride = max(((tile - overlap) // align) * align, align)
    last = length - tile
    n = math.ceil(last / stride) + 1
    starts = [((round(i * last / (n - 1)) if n > 1 else 0) // align) * align for i in range(n)]
    spans: list[Span] = []
    for s in starts:
        if spans and s <= spans[-1].start:
            continue
        spans.append(Span(s, min(s + tile, length)))
    # The last span ends exactly at ``length`` (up to ``align - 1`` pixels longer than tile).
    spans[-1] = Span(spans[-1].start, length)
    return spans


def _ramp(length: int) -> np.ndarray:
    """Weights rising from 0 to 1 over ``length`` pixels (zero for the outer quarters)."""
    if length <= 0:
        return np.zeros(0)
    dead = length // 4
    live = length - 2 * dead
    t = (np.arange(live) + 0.5) / live
    rise = np.sin(0.5 * np.pi * t) ** 2
    return np.concatenate([np.zeros(dead), rise, np.ones(dead)])


def axis_weights(spans: list[Span], scale: int = 1) -> list[np.ndarray]:
    """Per-span 1-D blending weights in output space (``scale x`` the input length).

    Adjacent weights sum to one over each overlap; a span's weight is 1 away from overlaps.
    """
    weights = []
    for i, span in enumerate(spans):
        size = (span.stop - span.start) * scale
        w = np.ones(size)
        if i > 0:
            ov = (spans[i - 1].stop - span.start) * scale
            if ov > 0:
                w[:ov] *= _ramp(ov)
        if i + 1 < len(spans):
            ov = (span.stop - spans[i + 1].start) * scale
            if ov > 0:
                w[size - ov :] *= 1.0 - _ramp(ov)
        weights.append(w)
    return weights


def count_tiles(height: int, width: int, tile: int | None, overlap: int) -> int:
    """Number of tiles :func:`predict_tiled` uses for an ``height x width`` input."""
    if tile is None:
        return 1
    return len(tile_spans(height, tile, overlap)) * len(tile_spans(width, tile, overlap))


def predict_tiled(
    model,
    x: np.ndarray,
    tile: int | None,
    overlap: int = 16,
    *,
    scale: int | None = None,
    predict: Callable[[np.ndarray], np.ndarray] | None = None,
    progress: Callable[[int], None] | None = None,
    tiles_per_call: int = 1,
) -> np.ndarray:
    """Run ``model`` on ``x`` tile by tile and blend the results.

    Args:
        model: a Keras model taking ``(B, h, w, C)`` float32 (0-255) and returning
            ``(B, s*h, s*w, C_out)``; may be None when ``predict`` is given.
        x: one image ``(H, W, C)`` or a batch ``(B, H, W, C)``, float32 on 0-255.
        tile: tile size in input pixels (even numbers work best); None runs the whole image.
        overlap: minimum overlap between neighbouring tiles in input pixels (at most
            ``tile // 2``).
        scale: output/input size ratio; default from the model.
        predict: optional replacement for the model call (numpy NHWC -> numpy NHWC).
        progress: called with the number of tiles done after each call (``tqdm.update``).
        tiles_per_call: run up to this many tiles of the same shape in one model call
            (stacked on the batch axis): fewer calls, better use of the cores; the memory
            is that many tiles' (``restore`` sizes it to the budget).

    Returns:
        float32 array ``(s*H, s*W, C_out)`` (or with the batch axis if ``x`` had one).
    """
    x = np.asarray(x, dtype=np.float32)
    batched = x.ndim == 4
    if not batched:
        if x.ndim != 3:
            raise InvalidImageError(f"predict_tiled expects (H, W, C) or (B, H, W, C), got {x.shape}")
        x = x[None]
    if predict is None:
        predict = model_function(model)
    if scale is None:
        scale = model_scale(model, x.shape[-1])
    b, h, w, _ = x.shape

    if tile is None or (h <= tile and w <= tile):
        out = predict(x)
        if progress is not None:
            progress(1)
        return out if batched else out[0]

    tile = int(tile)
    if tile < 4:
        raise ConfigError(f"tile must be at least 4 pixels, got {tile}")
    rows = tile_spans(h, tile, overlap)
    cols = tile_spans(w, tile, overlap)
    row_w = axis_weights(rows, scale)
    col_w = axis_weights(cols, scale)
    if tiles_per_call < 1:
        raise ConfigError(f"tiles_per_call must be >= 1, got {tiles_per_call}")
    # Tiles grouped by shape (the last span of an axis may be a pixel longer), in order.
    groups: dict[tuple[int, int], list] = {}
    for r, rw in zip(rows, row_w, strict=True):
        for c, cw in zip(cols, col_w, strict=True):
            groups.setdefault((r.stop - r.start, c.stop - c.start), []).append((r, rw, c, cw))
    acc: np.ndarray | None = None
    norm = np.zeros((h * scale, w * scale), np.float32)
    for members in groups.values():
        for k in range(0, len(members), tiles_per_call):
            chunk = members[k : k + tiles_per_call]
            outs = predict(np.concatenate(
                [x[:, r.start : r.stop, c.start : c.stop] for r, _, c, _ in chunk]))
            if acc is None:
                acc = np.zeros((b, h * scale, w * scale, outs.shape[-1]), np.float32)
            for j, (r, rw, c, cw) in enumerate(chunk):
                weight = (rw[:, None] * cw[None, :]).astype(np.float32) + _EPS
                region = (slice(r.start * scale, r.stop * scale),
                          slice(c.start * scale, c.stop * scale))
                acc[(slice(None), *region)] += outs[j * b : (j + 1) * b] * weight[None, :, :, None]
                norm[region] += weight
            if progress is not None:
                progress(len(chunk))
    assert acc is not None
    acc /= norm[None, :, :, None]
    return acc if batched else acc[0]


def progress_bar(total: int, progress: bool | None, desc: str = "tiles"):
    """A tqdm bar over tiles: shown when ``progress``, or (``None``) when stderr is a TTY."""
    import sys

    from tqdm.auto import tqdm

    disable = (not sys.stderr.isatty()) if progress is None else not progress
    return tqdm(total=total, desc=desc, unit="tile", leave=False, disable=disable)
