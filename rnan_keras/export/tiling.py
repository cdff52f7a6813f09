"""Fixed-size tiling inside the exported graph, so exports run on images of any size.

Why: the non-local blocks attend over every position of a feature map, so the dense path
needs ``4 * (H * W)^2`` bytes per image (1 GiB at 128x128, 4 TiB at 1024x1024), and the
exact chunked path (a ``tf.map_fn`` loop) costs ``O((H * W)^2)`` time -- hours for one
1024x1024 image on a CPU -- and does not convert to TFLite builtins. The exported graph
therefore runs the network on overlapping ``tile x tile`` windows (dense attention inside
each window, as the model itself does up to ``max_dense_positions``) in a ``while`` loop,
one window at a time, and blends the windows with tent weights. Memory is bounded by one
tile (about ``4 * tile^4`` bytes for the attention matrix: 340 MB at ``tile = 96``) plus the
input and output images, whatever the image size.

Cost: for images larger than the tile, the non-local attention only sees the tile (not the
whole image) and the overlapping borders are computed twice; an image no larger than the
tile is processed in one window and matches the Keras model exactly.

Shapes: ``x`` is ``(B, H, W, C)`` float32 on 0-255; the result is ``(B, s*H, s*W, C)``
(``s`` the SR scale). ``core`` is the network without its own pad/crop layers and must
receive even H and W (see :func:`pad_to_even`).
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

#: Defaults: the model's own dense limit is 96 * 96 positions, so a 96x96 tile never
#: needs the chunked path; 16 pixels of overlap on each tile border hide the seams.
DEFAULT_TILE = 96
DEFAULT_OVERLAP = 16


def check_tiling(tile: int | None, overlap: int) -> tuple[int | None, int]:
    """Validate ``tile`` (even, >= 2, or None for no tiling) and ``overlap`` (even, < tile)."""
    if tile is None:
        return None, 0
    tile, overlap = int(tile), int(overlap)
    if tile < 2 or tile % 2:
        raise ValueError(f"tile must be an even number >= 2, got {tile}")
    if overlap < 0 or overlap % 2 or overlap >= tile:
        raise ValueError(f"overlap must be even, >= 0 and < tile ({tile}), got {overlap}")
    return tile, overlap


def pad_to_even(x: tf.Tensor) -> tf.Tensor:
    """Pad H and W of ``(B, H, W, C)`` up to even sizes by repeating the last row/column.

    For a one-pixel pad this equals the model's ``SYMMETRIC`` padding; it is written as a
    gather so that TFLite and ONNX keep the static channel count.
    """
    shape = tf.shape(x)
    h, w = shape[1], shape[2]
    rows = tf.minimum(tf.range(h + h % 2), h - 1)
    cols = tf.minimum(tf.range(w + w % 2), w - 1)
    return tf.gather(tf.gather(x, rows, axis=1), cols, axis=2)


def tile_starts(length: tf.Tensor, tile: tf.Tensor, stride: int) -> tf.Tensor:
    """Start offsets (int32 ``[n]``) of windows of size ``tile`` covering ``[0, length)``.

    Windows step by ``stride``; the last one is aligned with the end. ``tile <= length``.
    """
    extra = length - tile
    n = 1 + (extra + stride - 1) // stride
    return tf.minimum(tf.range(n) * stride, extra)


def blend_weights(length: tf.Tensor, ramp: int) -> tf.Tensor:
    """Tent weights (float32 ``[length]``): ramp up over ``ramp`` pixels at both ends, > 0."""
    i = tf.range(length)
    dist = tf.minimum(i + 1, length - i)
    ramp = max(int(ramp), 1)
    return tf.cast(tf.minimum(dist, ramp), tf.float32) / float(ramp)


def coverage(length: tf.Tensor, starts: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
    """Sum over windows of their weights at each position: float32 ``[length]``."""
    size = tf.shape(weights)[0]
    offset = tf.expand_dims(tf.range(length), 0) - tf.expand_dims(starts, 1)  # (n, length)
    inside = tf.logical_and(offset >= 0, offset < size)
    values = tf.gather(weights, tf.clip_by_value(offset, 0, size - 1))
    return tf.reduce_sum(tf.where(inside, values, tf.zeros_like(values)), axis=0)


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
) -> tf.Tensor:
    """Run ``core`` over overlapping tiles of ``x`` and blend: ``(B,H,W,C) -> (B,sH,sW,C)``.

    Args:
        core: maps an even-sized ``(B, h, w, C)`` float32 batch to ``(B, s*h, s*w, C)``.
        x: float32 images on 0-255, any H and W >= 1.
        tile: tile side in input pixels (even), or None to run ``core`` on the whole image.
        overlap: pixels shared by neighbouring tiles (even, < tile).
        scale: output / input size ratio of ``core`` (the SR factor, 1 otherwise).
        channels: output channels (default: the input's static channel count).
    """
    tile, overlap = check_tiling(tile, overlap)
    channels = int(channels or x.shape[-1])
    shape = tf.shape(x)
    b, h, w = shape[0], shape[1], shape[2]
    xe = pad_to_even(x)
    if tile is None:
        y = core(xe)
        return y[:, : h * scale, : w * scale, :]

    he, we = h + h % 2, w + w % 2
    th, tw = tf.minimum(he, tile), tf.minimum(we, tile)
    stride = tile - overlap
    starts_h = tile_starts(he, th, stride)
    starts_w = tile_starts(we, tw, stride)
    n_w = tf.shape(starts_w)[0]
    n_tiles = tf.shape(starts_h)[0] * n_w

    out_h, out_w = he * scale, we * scale
    wy = blend_weights(th * scale, overlap * scale)
    wx = blend_weights(tw * scale, overlap * scale)
    tile_weight = _outer(wy, wx)

    def body(k, acc):
        i = k // n_w
        j = k - i * n_w
        y0, x0 = starts_h[i], starts_w[j]
        patch = xe[:, y0 : y0 + th, x0 : x0 + tw, :]
        out = core(patch) * tile_weight
        top, left = y0 * scale, x0 * scale
        paddings = [
            [0, 0],
            [top, out_h - top - th * scale],
            [left, out_w - left - tw * scale],
            [0, 0],
        ]
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
    norm = _outer(coverage(out_h, starts_h * scale, wy), coverage(out_w, starts_w * scale, wx))
    y = acc / norm
    return y[:, : h * scale, : w * scale, :]
