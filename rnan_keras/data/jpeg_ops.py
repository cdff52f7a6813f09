"""JPEG compression in plain TensorFlow tensor ops: runs on any device and under XLA.

:func:`rnan_keras.data.jpeg.jpeg_compress` calls libjpeg (bit-exact with Pillow, CPU only).
This module re-implements the baseline JPEG round trip with tensor ops so that a training
batch can be degraded inside the compiled train step on the accelerator, one quality per
image of the batch (the approach of BasicSR's ``DiffJPEG``, with real rounding):

1. colour only: RGB -> YCbCr (JFIF BT.601, full range), rounded to integers as libjpeg's
   fixed-point converter does; chroma 4:2:0 by libjpeg's 2x2 box average with its
   alternating 1 / 2 rounding bias;
2. planes padded to whole blocks (libjpeg replicates the last row / column; colour pads the
   image to whole 16x16 MCUs first), level shift by -128, 8x8 DCT-II as two matmuls;
3. quantisation with libjpeg's tables (the IJG examples of ITU-T T.81 Annex K, read from
   the libjpeg that Pillow links, :func:`base_tables`) scaled by quality exactly as libjpeg's
   ``jpeg_quality_scaling`` (Pillow's ``quality=``), rounding halves away from zero;
4. dequantisation, inverse DCT, +128, rounded and clipped to 0..255;
5. colour only: chroma upsampled with libjpeg's "fancy" triangle filter (3/4, 1/4 with its
   integer rounding), YCbCr -> RGB, rounded and clipped.

libjpeg's integer DCTs (``JDCT_ISLOW``) are replaced by exact float ones, so a few pixels
differ by one level from Pillow (``tests/data/test_jpeg_ops.py`` measures the agreement);
evaluation keeps the exact libjpeg path.
"""

from __future__ import annotations

import functools
import io

import numpy as np
import tensorflow as tf

from rnan_keras.data._common import as_float_image, check_jpeg_quality, round_half_away
from rnan_keras.errors import InvalidImageError


@functools.cache
def base_tables() -> tuple[np.ndarray, np.ndarray]:
    """libjpeg's (luma, chroma) quantisation tables, float32 ``(8, 8)``, natural order.

    Read from the encoder itself rather than written out again: libjpeg's quality scaling is
    the identity at quality 50 (``(T * 100 + 50) // 100 == T``), so the tables of a quality-50
    JPEG from Pillow are libjpeg's base tables (the IJG examples of ITU-T T.81 Annex K).
    """
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "JPEG", quality=50)
    with Image.open(buf) as img:
        tables = img.quantization  # natural (row-major) order
    return tuple(np.asarray(tables[i], np.float32).reshape(8, 8) for i in (0, 1))


def _dct_matrix() -> np.ndarray:
    """Orthonormal 8-point DCT-II matrix ``D`` (coefficients = D @ block @ D.T)."""
    k = np.arange(8)[:, None]
    n = np.arange(8)[None, :]
    d = np.cos((2 * n + 1) * k * np.pi / 16) * np.sqrt(2 / 8)
    d[0] /= np.sqrt(2)
    return d.astype(np.float32)


DCT = _dct_matrix()


def quant_tables(quality: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(luma, chroma) quantisation tables ``(B, 1, 1, 8, 8)`` for qualities ``(B,)`` 1..100.

    libjpeg: ``scale = 5000 / q`` below 50, ``200 - 2 q`` from 50; each entry
    ``(T * scale + 50) // 100`` clamped to 1..255 (baseline).
    """
    q = tf.cast(tf.reshape(quality, [-1, 1, 1, 1, 1]), tf.float32)
    scale = tf.where(q < 50, tf.floor(5000.0 / q), 200.0 - 2.0 * q)

    def table(base):
        return tf.clip_by_value(tf.floor((base * scale + 50.0) / 100.0), 1.0, 255.0)

    luma, chroma = base_tables()
    return table(luma), table(chroma)


def _pad_to(x: tf.Tensor, multiple: int) -> tf.Tensor:
    """Pad ``(B, H, W, C)`` bottom / right to a multiple, replicating the last row / column."""
    h, w = tf.shape(x)[1], tf.shape(x)[2]
    ph, pw = (-h) % multiple, (-w) % multiple
    rows = tf.concat([tf.range(h), tf.fill([ph], h - 1)], 0)
    cols = tf.concat([tf.range(w), tf.fill([pw], w - 1)], 0)
    return tf.gather(tf.gather(x, rows, axis=1), cols, axis=2)


# libjpeg's JDCT_ISLOW forward DCT (jfdctint.c): 13-bit fixed-point constants.
_CONST_BITS, _PASS1_BITS = 13, 2
_FIX = {
    "0_298631336": 2446, "0_390180644": 3196, "0_541196100": 4433, "0_765366865": 6270,
    "0_899976223": 7373, "1_175875602": 9633, "1_501321110": 12299, "1_847759065": 15137,
    "1_961570560": 16069, "2_053119869": 16819, "2_562915447": 20995, "3_072711026": 25172,
}


def _descale(x: tf.Tensor, n: int) -> tf.Tensor:
    """libjpeg ``DESCALE``: add half, arithmetic shift right by ``n`` (floor division)."""
    return tf.math.floordiv(x + (1 << (n - 1)), 1 << n)


def _fdct_islow_1d(d: list[tf.Tensor], first: bool) -> list[tf.Tensor]:
    """One pass of ``jpeg_fdct_islow`` over 8 int32 tensors (rows first, then columns)."""
    f = _FIX
    shift = _CONST_BITS - _PASS1_BITS if first else _CONST_BITS + _PASS1_BITS
    tmp0, tmp7 = d[0] + d[7], d[0] - d[7]
    tmp1, tmp6 = d[1] + d[6], d[1] - d[6]
    tmp2, tmp5 = d[2] + d[5], d[2] - d[5]
    tmp3, tmp4 = d[3] + d[4], d[3] - d[4]
    tmp10, tmp13 = tmp0 + tmp3, tmp0 - tmp3
    tmp11, tmp12 = tmp1 + tmp2, tmp1 - tmp2
    out = [None] * 8
    if first:
        out[0] = (tmp10 + tmp11) * (1 << _PASS1_BITS)
        out[4] = (tmp10 - tmp11) * (1 << _PASS1_BITS)
    else:
        out[0] = _descale(tmp10 + tmp11, _PASS1_BITS)
        out[4] = _descale(tmp10 - tmp11, _PASS1_BITS)
    z1 = (tmp12 + tmp13) * f["0_541196100"]
    out[2] = _descale(z1 + tmp13 * f["0_765366865"], shift)
    out[6] = _descale(z1 - tmp12 * f["1_847759065"], shift)
    z1, z2, z3, z4 = tmp4 + tmp7, tmp5 + tmp6, tmp4 + tmp6, tmp5 + tmp7
    z5 = (z3 + z4) * f["1_175875602"]
    tmp4, tmp5 = tmp4 * f["0_298631336"], tmp5 * f["2_053119869"]
    tmp6, tmp7 = tmp6 * f["3_072711026"], tmp7 * f["1_501321110"]
    z1, z2 = z1 * -f["0_899976223"], z2 * -f["2_562915447"]
    z3, z4 = z3 * -f["1_961570560"] + z5, z4 * -f["0_390180644"] + z5
    out[7] = _descale(tmp4 + z1 + z3, shift)
    out[5] = _descale(tmp5 + z2 + z4, shift)
    out[3] = _descale(tmp6 + z2 + z3, shift)
    out[1] = _descale(tmp7 + z1 + z4, shift)
    return out


def _fdct_islow(blocks: tf.Tensor) -> tf.Tensor:
    """libjpeg's integer forward DCT of level-shifted ``(..., 8, 8)`` int32 blocks.

    Bit-exact with ``jpeg_fdct_islow``; the result is 8x the orthonormal DCT.
    """
    rows = _fdct_islow_1d(tf.unstack(blocks, axis=-1), first=True)
    cols = _fdct_islow_1d(tf.unstack(tf.stack(rows, axis=-1), axis=-2), first=False)
    return tf.stack(cols, axis=-2)


def _code_plane(plane: tf.Tensor, table: tf.Tensor) -> tf.Tensor:
    """Quantise and reconstruct one ``(B, H, W)`` plane (H, W multiples of 8), 0..255."""
    b, h, w = tf.shape(plane)[0], tf.shape(plane)[1], tf.shape(plane)[2]
    blocks = tf.reshape(plane - 128.0, [b, h // 8, 8, w // 8, 8])
    blocks = tf.transpose(blocks, [0, 1, 3, 2, 4])  # (B, H/8, W/8, 8, 8)
    # Encoder as libjpeg: integer DCT (8x scaled), then divide by 8 q rounding halves away
    # from zero, i.e. sign(x) * ((|x| + 4 q) // 8 q).
    coef = _fdct_islow(tf.cast(blocks, tf.int32))
    divisor = tf.cast(table, tf.int32) * 8
    level = tf.sign(coef) * tf.math.floordiv(tf.abs(coef) + divisor // 2, divisor)
    coef = tf.cast(level, tf.float32) * table
    pixels = tf.matmul(tf.matmul(DCT, coef, transpose_a=True), DCT)
    pixels = tf.transpose(pixels, [0, 1, 3, 2, 4])
    pixels = tf.reshape(pixels, [b, h, w]) + 128.0
    return tf.clip_by_value(round_half_away(pixels), 0.0, 255.0)


def _downsample_h2v2(c: tf.Tensor) -> tf.Tensor:
    """libjpeg ``h2v2_downsample``: 2x2 sums plus a bias alternating 1, 2, then ``>> 2``."""
    b, h, w = tf.shape(c)[0], tf.shape(c)[1], tf.shape(c)[2]
    sums = tf.reduce_sum(tf.reshape(c, [b, h // 2, 2, w // 2, 2]), axis=[2, 4])
    bias = 1.0 + tf.cast(tf.range(w // 2) % 2, tf.float32)
    return tf.floor((sums + bias) / 4.0)


def _upsample_fancy_h2v2(c: tf.Tensor) -> tf.Tensor:
    """libjpeg ``h2v2_fancy_upsample``: triangle filter, ``(3 a + b)`` per axis, rounded."""
    up = tf.concat([c[:, :1], c[:, :-1]], 1)
    down = tf.concat([c[:, 1:], c[:, -1:]], 1)
    # Column sums of the two nearest input rows (3:1), for output rows 2i and 2i+1.
    rows = tf.stack([3.0 * c + up, 3.0 * c + down], axis=2)  # (B, h, 2, w)
    b, h, w = tf.shape(c)[0], tf.shape(c)[1], tf.shape(c)[2]
    rows = tf.reshape(rows, [b, 2 * h, w])
    left = tf.concat([rows[:, :, :1], rows[:, :, :-1]], 2)
    right = tf.concat([rows[:, :, 1:], rows[:, :, -1:]], 2)
    even = tf.floor((3.0 * rows + left + 8.0) / 16.0)
    odd = tf.floor((3.0 * rows + right + 7.0) / 16.0)
    # The image edges use the column itself (4 * sum), as libjpeg does.
    first = tf.floor((4.0 * rows[:, :, :1] + 8.0) / 16.0)
    last = tf.floor((4.0 * rows[:, :, -1:] + 7.0) / 16.0)
    even = tf.concat([first, even[:, :, 1:]], 2)
    odd = tf.concat([odd[:, :, :-1], last], 2)
    return tf.reshape(tf.stack([even, odd], axis=3), [b, 2 * h, 2 * w])


def _fix16(value: float) -> int:
    """libjpeg ``FIX(x)`` with ``SCALEBITS = 16``."""
    return int(value * 65536 + 0.5)


_HALF16 = 1 << 15


def _rgb_to_ycc(x: tf.Tensor) -> tf.Tensor:
    """libjpeg ``rgb_ycc_convert`` (fixed point, bit-exact): integer RGB -> YCbCr."""
    r, g, b = tf.unstack(tf.cast(x, tf.int32), axis=-1)
    offset = (128 << 16) + _HALF16 - 1
    y = _fix16(0.299) * r + _fix16(0.587) * g + _fix16(0.114) * b + _HALF16
    cb = -_fix16(0.16874) * r - _fix16(0.33126) * g + _fix16(0.5) * b + offset
    cr = _fix16(0.5) * r - _fix16(0.41869) * g - _fix16(0.08131) * b + offset
    return tf.cast(tf.stack([y, cb, cr], -1) // (1 << 16), tf.float32)


def _ycc_to_rgb(y: tf.Tensor, cb: tf.Tensor, cr: tf.Tensor) -> tf.Tensor:
    """libjpeg ``ycc_rgb_convert`` (fixed point, bit-exact), clipped to 0..255."""
    y, cb, cr = (tf.cast(t, tf.int32) for t in (y, cb, cr))
    cb, cr = cb - 128, cr - 128
    r = y + (_fix16(1.402) * cr + _HALF16) // (1 << 16)
    g = y + (-_fix16(0.34414) * cb - _fix16(0.71414) * cr + _HALF16) // (1 << 16)
    b = y + (_fix16(1.772) * cb + _HALF16) // (1 << 16)
    return tf.clip_by_value(tf.cast(tf.stack([r, g, b], -1), tf.float32), 0.0, 255.0)


def jpeg_compress_tf(x, quality) -> tf.Tensor:
    """JPEG-encode and decode a batch with tensor ops (any device, XLA-compatible).

    Args:
        x: ``(B, H, W, C)`` or ``(H, W, C)`` float image on 0-255, ``C`` = 1 (gray) or 3
            (RGB, coded as YCbCr 4:2:0 like Pillow's default). Values are clipped to 0..255
            and rounded first.
        quality: an int or a ``(B,)`` int tensor (one quality per image), 1..100.

    Returns:
        float32 tensor shaped like ``x`` with integer values 0..255.
    """
    check_jpeg_quality(quality)
    x = as_float_image(x)
    single = x.shape.rank == 3
    if single:
        x = x[tf.newaxis]
    channels = x.shape[-1]
    if channels not in (1, 3):
        raise InvalidImageError(f"jpeg_compress_tf expects 1 or 3 channels, got {x.shape}")
    x = tf.floor(tf.clip_by_value(x, 0.0, 255.0) + 0.5)
    batch, h, w = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
    quality = tf.broadcast_to(tf.reshape(tf.cast(quality, tf.int32), [-1]), [batch])
    luma_q, chroma_q = quant_tables(quality)
    if channels == 1:
        out = _code_plane(_pad_to(x, 8)[..., 0], luma_q)[:, :h, :w, tf.newaxis]
    else:
        ycc = _pad_to(_rgb_to_ycc(x), 16)  # whole 16x16 MCUs
        y = _code_plane(ycc[..., 0], luma_q)
        # Chroma planes are (H/2, W/2) of the padded image: whole 8x8 blocks.
        cb, cr = (_code_plane(_downsample_h2v2(ycc[..., i]), chroma_q) for i in (1, 2))
        # libjpeg upsamples from the chroma of the real image size, so its last row and
        # column (edge replication) come from the image's own last chroma sample.
        ch, cw = (h + 1) // 2, (w + 1) // 2
        cb, cr = (_upsample_fancy_h2v2(c[:, :ch, :cw]) for c in (cb, cr))
        out = _ycc_to_rgb(y[:, :h, :w], cb[:, :h, :w], cr[:, :h, :w])
    return out[0] if single else out
