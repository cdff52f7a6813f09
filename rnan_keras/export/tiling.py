"""Fixed-size tiling inside the exported graph, so exports run on images of any size.

Why: the non-local blocks attend over every position of a feature map, so the dense path
needs ``4 * (H * W)^2`` bytes per image (1 GiB at 128x128, 4 TiB at 1024x1024), and the
exact chunked path (a ``tf.map_fn`` loop) costs ``O((H * W)^2)`` time -- hours for one
1024x1024 image on a CPU -- and does not convert to TFLite builtins. The exported graph
therefore runs the network on overlapping ``tile x tile`` windows (dense attention inside
each window, as the model itself does up to ``max_dense_positions``) in a ``while`` loop,
one window at a time. Memory is bounded by one tile (about ``4 * tile^4`` bytes for the
attention matrix: 340 MB at ``tile = 96``) plus the input and output images, whatever the
image size.

The layout and blending are those of :func:`rnan_keras.inference.tiling.predict_tiled`
(what ``rnan restore`` / :func:`rnan_keras.restore` run), computed with graph ops: spans
of ``tile`` pixels with even starts spread evenly so that neighbours overlap by at least
``overlap`` pixels, the last span ending at the image border (one pixel longer than
``tile`` when the length is odd), and raised-cosine weights whose outer quarters are zero
in each overlap. An export therefore returns what the Keras model returns under
``restore``'s tiling with the same ``tile`` and ``overlap``; an image no larger than the tile
is processed in one piece, exactly like the Keras model.

Cost: for images larger than the tile, the non-local attention only sees its tile (not the
whole image), and overlaps are computed twice.

Shapes: ``x`` is ``(B, H, W, C)`` float32 on 0-255; the result is ``(B, s*H, s*W, C)``
(``s`` the SR scale). ``core`` is the network without its own pad/crop layers and must
receive even H and W (tiles are padded with :func:`pad_to_even` and cropped back).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import tensorflow as tf

#: Defaults: the model's own dense limit is 96 * 96 positions, so a 96x96 tile never
#: needs the chunked path; 16 pixels of overlap hide the seams (as ``rnan restore``).
DEFAULT_TILE = 96
DEFAULT_OVERLAP = 16
#: Added to every blending weight (as ``predict_tiled`` does) so that no sum is zero.
EPS = 1e-6


def check_tiling(tile: int | None, overlap: int) -> tuple[int | None, int]:
    """Validate ``tile`` (even, >= 4, or None for no tiling) and ``0 <= overlap <= tile // 2``."""
    if tile is None:
        return None, 0
    tile, overlap = int(tile), int(overlap)
    if tile < 4 or tile % 2:
        raise ValueError(f"tile must be an even number >= 4, got {tile}")
    if overlap < 0 or overlap > tile // 2:
        raise ValueError(f"overlap must be between 0 and tile // 2 ({tile // 2}), got {overlap}")
    return tile, overlap


def pad_to_even(x: tf.Tensor, mode: str = "SYMMETRIC") -> tf.Tensor:
    """Pad H and W of ``(B, H, W, C)`` up to even sizes, as the model's ``pad`` layer does.

    ``SYMMETRIC`` repeats the last row / column; ``REFLECT`` (Bayer mosaics) mirrors the one
    before it, which keeps the CFA's colours (needs H, W >= 2). Written as a gather so that
    TFLite and ONNX keep the static channel count.
    """
    shape = tf.shape(x)
    h, w = shape[1], shape[2]

    def index(n):
        i = tf.range(n + n % 2)
        return tf.where(i < n, i, 2 * (n - 1) - i) if mode == "REFLECT" else tf.minimum(i, n - 1)

    return tf.gather(tf.gather(x, index(h), axis=1), index(w), axis=2)


def _round_half_even_div(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """``round(a / b)`` for non-negative int32 ``a`` and positive ``b``, ties to even.

    Integer arithmetic, so it matches Python's ``round`` exactly.
    """
    q = a // b
    r = a - q * b
    up = tf.logical_or(2 * r > b, tf.logical_and(2 * r == b, q % 2 == 1))
    return q + tf.cast(up, q.dtype)


def tile_spans(length: tf.Tensor, tile: int, overlap: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Starts and stops (int32 ``[n]``) of the spans covering ``[0, length)``.

    Same spans as :func:`rnan_keras.inference.tiling.tile_spans` (``align=2``): ``n`` even
    starts spread evenly from 0 to ``length - tile`` (at most ``stride`` apart), duplicates
    dropped, the last stop moved to ``length``. A length up to ``tile`` gives one span.
    """
    overlap = max(0, min(int(overlap), tile // 2))
    stride = max(((tile - overlap) // 2) * 2, 2)
    last = tf.maximum(length - tile, 0)
    n = 1 + (last + stride - 1) // stride
    rounded = _round_half_even_div(tf.range(n) * last, tf.maximum(n - 1, 1))
    starts = (rounded // 2) * 2
    keep = tf.concat([[True], starts[1:] > starts[:-1]], axis=0)
    starts = tf.boolean_mask(starts, keep)
    stops = tf.minimum(starts + tile, length)
    stops = tf.concat([stops[:-1], tf.reshape(length, [1])], axis=0)
    return starts, stops


def _rise(k: tf.Tensor, length: tf.Tensor) -> tf.Tensor:
    """``predict_tiled``'s ramp over ``length`` pixels at index ``k`` (0 before, 1 after).

    Zero for the first quarter, ``sin^2`` rising over the middle half, one for the last
    quarter (``length // 4`` pixels each).
    """
    dead = length // 4
    live = length - 2 * dead
    t = (tf.cast(k - dead, tf.float32) + 0.5) / tf.cast(tf.maximum(live, 1), tf.float32)
    rise = tf.square(tf.sin(0.5 * math.pi * t))
    out = tf.where(k < dead, tf.zeros_like(rise), rise)
    return tf.where(k >= dead + live, tf.ones_like(rise), out)


def span_weights(offset: tf.Tensor, size: tf.Tensor, before: tf.Tensor, after: tf.Tensor):
    """Blending weight at ``offset`` inside a span of ``size`` output pixels (broadcasts).

    ``before`` / ``after``: overlap with the previous / next span (0 if none). The weight
    rises over the first overlap and falls over the last; neighbours sum to one.
    """
    up = _rise(offset, before)
    down = 1.0 - _rise(offset - (size - after), after)
    return up * down


def _axis_weights(starts: tf.Tensor, stops: tf.Tensor, scale: int):
    """Per-span sizes and overlaps in output pixels: ``(start, size, before, after)``."""
    start, stop = starts * scale, stops * scale
    zero = tf.zeros([1], start.dtype)
    before = tf.concat([zero, stop[:-1] - start[1:]], axis=0)
    after = tf.concat([stop[:-1] - start[1:], zero], axis=0)
    return start, stop - start, before, after


def coverage(length: tf.Tensor, start, size, before, after) -> tuple[tf.Tensor, tf.Tensor]:
    """Sum of the spans' weights, and number of spans, at each of ``length`` positions."""
    offset = tf.expand_dims(tf.range(length), 0) - tf.expand_dims(start, 1)  # (n, length)
    inside = tf.logical_and(offset >= 0, offset < tf.expand_dims(size, 1))
    w = span_weights(offset, tf.expand_dims(size, 1), tf.expand_dims(before, 1),
                     tf.expand_dims(after, 1))
    zeros = tf.zeros_like(w)
    total = tf.reduce_sum(tf.where(inside, w, zeros), axis=0)
    count = tf.reduce_sum(tf.where(inside, tf.ones_like(w), zeros), axis=0)
    return total, count


def _outer(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """``(h,), (w,) -> (1, h, w, 1)`` outer product (reshapes only: TFLite-friendly)."""
    return tf.reshape(a, [1, -1, 1, 1]) * tf.reshape(b, [1, 1, -1, 1])


def tiled_forward(
    core: Callable[[tf.Tensor], tf.Tensor],
    x: tf.Tensor,
    *,
    tile: int | None = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    scale: int = 1,
    channels: int | None = None,
    pad_mode: str = "SYMMETRIC",
) -> tf.Tensor:
    """Run ``core`` over overlapping tiles of ``x`` and blend: ``(B,H,W,C) -> (B,sH,sW,C)``.

    Args:
        core: maps an even-sized ``(B, h, w, C)`` float32 batch to ``(B, s*h, s*w, C)``.
        x: float32 images on 0-255, any H and W >= 1.
        tile: tile side in input pixels (even), or None to run ``core`` on the whole image.
        overlap: minimum overlap of neighbouring tiles in input pixels (<= tile // 2).
        scale: output / input size ratio of ``core`` (the SR factor, 1 otherwise).
        channels: output channels (default: the input's static channel count).
        pad_mode: how odd-sized tiles are padded (:func:`pad_to_even`): the model's ``pad``
            layer mode, ``REFLECT`` for a demosaic model.
    """
    tile, overlap = check_tiling(tile, overlap)
    channels = int(channels or x.shape[-1])
    shape = tf.shape(x)
    b, h, w = shape[0], shape[1], shape[2]
    if tile is None:
        return core(pad_to_even(x, pad_mode))[:, : h * scale, : w * scale, :]

    starts_h, stops_h = tile_spans(h, tile, overlap)
    starts_w, stops_w = tile_spans(w, tile, overlap)
    rows = _axis_weights(starts_h, stops_h, scale)
    cols = _axis_weights(starts_w, stops_w, scale)
    n_w = tf.shape(starts_w)[0]
    n_tiles = tf.shape(starts_h)[0] * n_w
    out_h, out_w = h * scale, w * scale

    def body(k, acc):
        i = k // n_w
        j = k - i * n_w
        y0, y1, x0, x1 = starts_h[i], stops_h[i], starts_w[j], stops_w[j]
        th, tw = (y1 - y0) * scale, (x1 - x0) * scale
        out = core(pad_to_even(x[:, y0:y1, x0:x1, :], pad_mode))[:, :th, :tw, :]
        wy = span_weights(tf.range(th), th, rows[2][i], rows[3][i])
        wx = span_weights(tf.range(tw), tw, cols[2][j], cols[3][j])
        out = out * (_outer(wy, wx) + EPS)
        top, left = y0 * scale, x0 * scale
        paddings = [[0, 0], [top, out_h - top - th], [left, out_w - left - tw], [0, 0]]
        placed = tf.reshape(tf.pad(out, paddings), [b, out_h, out_w, channels])
        return k + 1, acc + placed

    acc0 = tf.zeros(tf.stack([b, out_h, out_w, channels]), tf.float32)
    _, acc = tf.while_loop(
        lambda k, acc: k < n_tiles,
        body,
        [tf.constant(0), acc0],
        shape_invariants=[tf.TensorShape([]), tf.TensorShape([None, None, None, channels])],
        parallel_iterations=1,
    )
    total_y, count_y = coverage(out_h, *rows)
    total_x, count_x = coverage(out_w, *cols)
    norm = _outer(total_y, total_x) + EPS * _outer(count_y, count_x)
    return acc / norm
