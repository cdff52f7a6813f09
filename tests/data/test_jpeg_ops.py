"""JPEG in TF tensor ops (on any device, XLA) against Pillow's libjpeg encode + decode."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from rnan_keras.data.jpeg_ops import base_tables, jpeg_compress_tf, quant_tables
from rnan_keras.errors import ConfigError, InvalidImageError

QUALITIES = (10, 20, 30, 40)
GRAY = ("Set12/01.png", "Classic5/barbara.png", "BSD68/test005.png")
COLOUR = ("CBSD68/101085.png", "Kodak24/kodim05.png", "Set5/HR/butterfly.png")


def pillow_jpeg(arr: np.ndarray, quality: int) -> tuple[np.ndarray, dict]:
    img = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)  # Pillow default: 4:2:0 for colour
    with Image.open(io.BytesIO(buf.getvalue())) as decoded:
        return np.asarray(decoded).reshape(arr.shape), decoded.quantization


def _load(shared_dir, rel) -> np.ndarray:
    path = shared_dir / "data" / "testsets" / rel
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with Image.open(path) as img:
        arr = np.asarray(img)
    return arr[..., None] if arr.ndim == 2 else arr


def _y(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    return a[..., 0] if a.shape[-1] == 1 else a @ np.array([0.299, 0.587, 0.114])


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _dqt_tables(jpeg: bytes) -> list[np.ndarray]:
    """The 8-bit quantisation tables of a baseline JPEG's DQT segments, natural order."""
    zigzag = sorted(((i, j) for i in range(8) for j in range(8)),
                    key=lambda p: (p[0] + p[1], p[1] if (p[0] + p[1]) % 2 == 0 else p[0]))
    tables, pos = [], jpeg.find(b"\xff\xdb")
    while pos >= 0:
        end = pos + 2 + int.from_bytes(jpeg[pos + 2: pos + 4], "big")
        pos += 4
        while pos < end:  # Pq/Tq byte, then 64 values in zig-zag order
            table = np.zeros((8, 8), np.float32)
            for k, (i, j) in enumerate(zigzag):
                table[i, j] = jpeg[pos + 1 + k]
            tables.append(table)
            pos += 65
        pos = jpeg.find(b"\xff\xdb", end)
    return tables


def test_base_tables_are_libjpegs():
    # The tables come from Pillow's libjpeg; TensorFlow's encoder (its own libjpeg build)
    # must write the same ones at every quality, and the standard's corner values hold.
    luma, chroma = base_tables()
    assert (luma[0, 0], luma[7, 7], chroma[0, 0], chroma[7, 7]) == (16, 99, 17, 99)
    img = tf.zeros((16, 16, 3), tf.uint8)
    for q in (10, 50, 90):
        want = [t.numpy().reshape(8, 8) for t in quant_tables(tf.constant([q]))]
        got = _dqt_tables(tf.io.encode_jpeg(img, quality=q).numpy())
        assert len(got) == 2, q
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b, err_msg=f"q{q}")


def test_quantisation_tables_equal_pillows():
    img = np.full((8, 8, 3), 128, np.uint8)
    qualities = np.arange(1, 101)
    luma, chroma = (t.numpy().reshape(100, 64) for t in quant_tables(tf.constant(qualities)))
    for q in qualities:
        _, tables = pillow_jpeg(img, int(q))
        np.testing.assert_array_equal(luma[q - 1], tables[0], err_msg=f"luma q{q}")
        np.testing.assert_array_equal(chroma[q - 1], tables[1], err_msg=f"chroma q{q}")


@pytest.mark.parametrize("rel", GRAY + COLOUR)
def test_agrees_with_pillow(shared_dir, rel):
    # The bar: Y PSNR >= 45 dB between the two decoded results and >= 99 % of the
    # pixels within one level. The encoder side (integer DCT, quantisation, colour
    # conversion, chroma subsampling) is libjpeg's exactly; only the decoder's inverse DCT
    # is a float one, so differences are rounding flips of one level, rarely more.
    arr = _load(shared_dir, rel)
    for img in (arr, arr[3:104, 5:82]):  # and partial blocks / MCUs at the border
        for q in QUALITIES:
            want, _ = pillow_jpeg(img, q)
            got = jpeg_compress_tf(img.astype(np.float32), q).numpy()
            assert got.shape == img.shape
            diff = np.abs(got - want)
            assert _psnr(_y(got), _y(want)) >= 45.0, (rel, img.shape, q)
            assert np.mean(diff <= 1) >= 0.99, (rel, img.shape, q, np.mean(diff <= 1))


def test_batch_takes_one_quality_per_image(shared_dir):
    arr = _load(shared_dir, COLOUR[0])[:64, :80]
    batch = np.stack([arr, arr[::-1], arr[:, ::-1]]).astype(np.float32)
    qualities = [10, 25, 40]
    got = jpeg_compress_tf(batch, tf.constant(qualities)).numpy()
    for i, q in enumerate(qualities):
        np.testing.assert_array_equal(got[i], jpeg_compress_tf(batch[i], q).numpy())
    assert np.abs(got[0] - got[2][:, ::-1]).max() > 0  # different qualities differ


@pytest.mark.parametrize("channels", [1, 3])
def test_compiles_with_xla(channels):
    # Odd size: the padding to whole blocks / MCUs and the crop compile too.
    fn = tf.function(jpeg_compress_tf, jit_compile=True)
    x = np.random.default_rng(0).uniform(0, 255, (2, 21, 13, channels)).astype(np.float32)
    q = tf.constant([10, 40])
    np.testing.assert_array_equal(fn(x, q).numpy(), jpeg_compress_tf(x, q).numpy())


def test_bad_inputs_raise():
    with pytest.raises(ConfigError, match="1..100"):
        jpeg_compress_tf(np.zeros((8, 8, 1), np.float32), 0)
    with pytest.raises(InvalidImageError, match="1 or 3 channels"):
        jpeg_compress_tf(np.zeros((8, 8, 2), np.float32), 10)
