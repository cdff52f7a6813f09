"""The task dispatcher degrade() and prepare_clean()."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from rnan_keras.data.degradations import (
    TASKS,
    bayer_mosaic,
    degrade,
    get_task,
    imresize,
    prepare_clean,
)
from rnan_keras.errors import ConfigError, InvalidImageError


def _rgb(b=2, h=24, w=20, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (b, h, w, 3)).astype(np.float32)


def test_shapes_for_every_task():
    x = _rgb()
    for name, info in TASKS.items():
        clean = prepare_clean(name, x)
        assert clean.shape[-1] == info.n_colors
        out = degrade(name, clean, sigma=15, quality=20, seed=0)
        assert out.dtype == tf.float32
        want = (2, -(-24 // info.scale), -(-20 // info.scale), info.n_colors)
        assert tuple(out.shape) == want, name


def test_dn_uses_unclipped_float_noise_with_seed():
    x = np.full((1, 64, 64, 3), 250.0, np.float32)
    a = degrade("dn_rgb", x, sigma=30, seed=4).numpy()
    np.testing.assert_array_equal(a, degrade("dn_rgb", x, sigma=30, seed=4).numpy())
    assert a.max() > 255.0  # not clipped (DnCNN/RNAN protocol)
    assert (a - x).std() == pytest.approx(30.0, rel=0.05)


def test_sigma_range_drawn_per_image():
    x = np.full((8, 64, 64, 1), 128.0, np.float32)
    y = degrade("dn_gray", x, sigma=(10, 50), seed=1).numpy() - 128.0
    stds = y.reshape(8, -1).std(axis=1)
    assert stds.min() > 9.0 and stds.max() < 51.5
    assert stds.max() - stds.min() > 5.0  # really different per image


def test_demosaic_is_grbg_and_sr_is_quantised_bicubic():
    x = _rgb(1, 12, 12)
    np.testing.assert_array_equal(degrade("demosaic", x).numpy(), bayer_mosaic(x, "GRBG"))
    lr = degrade("sr_x3", x).numpy()
    np.testing.assert_array_equal(lr, imresize(x, 1 / 3, quantize=True).numpy())
    np.testing.assert_array_equal(lr, np.round(lr))


def test_car_is_pillow_jpeg_of_rounded_y():
    x = _rgb(1, 32, 32)
    y = prepare_clean("car", x).numpy()
    # Y is rounded Matlab rgb2ycbcr luma
    ref_y = 16 + (65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]) / 255
    np.testing.assert_array_equal(y[..., 0], np.floor(ref_y + 0.5))
    out = degrade("car", y, quality=10).numpy()
    buf = io.BytesIO()
    Image.fromarray(y[0, ..., 0].astype(np.uint8)).save(buf, "JPEG", quality=10)
    np.testing.assert_array_equal(out[0, ..., 0], np.asarray(Image.open(buf)))


def test_prepare_clean_channel_handling():
    gray = np.full((5, 5, 1), 9.0, np.float32)
    assert prepare_clean("dn_rgb", gray).shape == (5, 5, 3)
    np.testing.assert_array_equal(prepare_clean("car", gray).numpy(), gray)  # used as is
    rgba = np.zeros((5, 5, 4), np.float32)
    assert prepare_clean("sr_x2", rgba).shape == (5, 5, 3)


def test_errors():
    x = _rgb()
    with pytest.raises(ConfigError, match="unknown task"):
        degrade("dn_cmyk", x, sigma=10)
    with pytest.raises(ConfigError):
        get_task("sr_x1")
    with pytest.raises(ConfigError, match="sigma"):
        degrade("dn_rgb", x)
    with pytest.raises(ConfigError, match="quality"):
        degrade("car", x[..., :1])
    with pytest.raises(InvalidImageError):
        degrade("car", x, quality=10)  # needs 1-channel Y
    with pytest.raises(ConfigError):
        degrade("dn_rgb", x, sigma=(50, 10))


@pytest.mark.parametrize("task", sorted(TASKS))
def test_degrade_in_tf_function_with_unknown_shapes(task):
    info = get_task(task)
    spec = tf.TensorSpec([None, None, None, info.n_colors], tf.float32)
    fn = tf.function(lambda x, s: degrade(task, x, sigma=(5, 25), quality=(10, 40), seed=s),
                     input_signature=[spec, tf.TensorSpec([2], tf.int32)])
    x = prepare_clean(task, _rgb(2, 13, 17))
    a = fn(x, tf.constant([1, 2])).numpy()
    b = fn(x, tf.constant([1, 2])).numpy()
    np.testing.assert_array_equal(a, b)
    assert a.shape == (2, -(-13 // info.scale), -(-17 // info.scale), info.n_colors)


@pytest.mark.parametrize("pattern", ["GRBG", "RGGB"])
def test_bayer_from_raw_inverts_the_packed_mosaic(pattern):
    from rnan_keras.data.mosaic import bayer_from_raw

    x = _rgb(1, 7, 9)[0]
    raw = np.asarray(bayer_mosaic(x, pattern=pattern, packed=True))
    np.testing.assert_array_equal(bayer_from_raw(raw, pattern),
                                  np.asarray(bayer_mosaic(x, pattern=pattern)))
