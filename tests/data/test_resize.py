"""Matlab bicubic imresize vs the Matlab-made Set5 LR images and a numpy reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from rnan_keras.data.resize import imresize

NAMES = ("baby", "bird", "butterfly", "head", "woman")


def _psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_matches_set5_lr_bicubic(shared_dir, scale):
    root = shared_dir / "data" / "testsets" / "Set5"
    within, total, psnrs = 0, 0, []
    for name in NAMES:
        hr = np.asarray(Image.open(root / "HR" / f"{name}.png"))
        lr = np.asarray(Image.open(root / "LR_bicubic" / f"X{scale}" / f"{name}x{scale}.png"))
        h, w = hr.shape[0] // scale * scale, hr.shape[1] // scale * scale  # Matlab modcrop
        out = imresize(hr[:h, :w].astype(np.float32), 1 / scale, quantize=True).numpy()
        assert out.shape == lr.shape
        out8 = np.floor(np.clip(out, 0, 255) + 0.5)
        diff = np.abs(out8 - lr.astype(np.float64))
        within += int((diff <= 1).sum())
        total += diff.size
        psnrs.append(_psnr(out8, lr))
    assert within / total >= 0.999
    assert min(psnrs) >= 60.0


def _matlab_contributions(in_len, out_len, scale, antialias=True):
    """Straight loop transcription of Matlab's contributions() (independent reference)."""

    def cubic(x):
        ax = abs(x)
        if ax <= 1:
            return 1.5 * ax**3 - 2.5 * ax**2 + 1
        if ax <= 2:
            return -0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2
        return 0.0

    width = 4.0 / scale if (scale < 1 and antialias) else 4.0
    mat = np.zeros((out_len, in_len))
    for i in range(1, out_len + 1):
        u = i / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        ws, idx = [], []
        for k in range(math.ceil(width) + 2):
            j = left + k
            d = u - j
            ws.append(scale * cubic(scale * d) if (scale < 1 and antialias) else cubic(d))
            jj = (j - 1) % (2 * in_len)  # mirror padding
            idx.append(jj if jj < in_len else 2 * in_len - 1 - jj)
        total = sum(ws)
        for wv, j in zip(ws, idx, strict=True):
            mat[i - 1, j] += wv / total
    return mat


@pytest.mark.parametrize("scale,shape", [(0.5, (13, 10)), (1 / 3, (12, 17)), (2.0, (7, 5)),
                                         (4.0, (3, 6)), (0.75, (9, 9))])
def test_float_resize_matches_loop_reference(scale, shape):
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 255, (*shape, 2))
    oh, ow = math.ceil(shape[0] * scale), math.ceil(shape[1] * scale)
    ref = np.einsum("oh,hwc->owc", _matlab_contributions(shape[0], oh, scale), x)
    ref = np.einsum("ow,hwc->hoc", _matlab_contributions(shape[1], ow, scale), ref)
    got = imresize(x.astype(np.float32), scale).numpy()
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=2e-3)


def test_dynamic_shapes_in_tf_function():
    fn = tf.function(lambda t: imresize(t, 0.25, quantize=True),
                     input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    for h, w in ((16, 24), (9, 13)):
        out = fn(tf.fill((2, h, w, 3), 77.0))
        assert out.shape == (2, math.ceil(h / 4), math.ceil(w / 4), 3)
        np.testing.assert_array_equal(out.numpy(), 77.0)  # weights sum to one


def test_upscale_keeps_constant_and_size():
    out = imresize(np.full((5, 7, 1), 42.0, np.float32), 3).numpy()
    assert out.shape == (15, 21, 1)
    np.testing.assert_allclose(out, 42.0, atol=1e-4)
