"""rnan_keras.training.losses: the per-image PSNR loss against its formula, its gradient,
serialisation, and a training run that uses it."""

from __future__ import annotations

import math

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
import keras

from rnan_keras.training.config import LOSSES, TrainConfig
from rnan_keras.training.losses import PSNR_LOSS_EPS, PSNRLoss, make_loss
from tests.training.conftest import fixed_batches, read_train_log


def _pair(scales=(1.0, 10.0), shape=(6, 5, 3), seed=0):
    """(clean, restored) batches whose image i is off by noise of std ``scales[i]``."""
    rng = np.random.default_rng(seed)
    clean = rng.uniform(0, 255, (len(scales), *shape))
    err = rng.normal(0, 1, clean.shape) * np.asarray(scales)[:, None, None, None]
    return clean, clean + err


def test_value_is_mean_per_image_log_mse():
    clean, restored = _pair()
    mse = ((restored - clean) ** 2).mean(axis=(1, 2, 3))  # float64 reference
    expected = float(np.mean(10 * np.log10(mse + PSNR_LOSS_EPS)))
    got = float(PSNRLoss()(clean.astype("float32"), restored.astype("float32")))
    # float32 inputs: relative rounding ~6e-8 per value, the sum of 90 squares and the log
    # stay within 1e-5 of the value (|value| < 30 dB)
    assert got == pytest.approx(expected, abs=1e-4)
    # the value is minus the mean per-image PSNR (peak 255) up to the constant 20 log10 255,
    # and eps moves it by at most 10 log10(1 + eps / smallest MSE)
    psnr = 10 * np.log10(255.0 ** 2 / mse)
    eps_shift = 10 * math.log10(1 + PSNR_LOSS_EPS / mse.min())
    assert 0 < got - (20 * math.log10(255.0) - psnr.mean()) <= eps_shift + 1e-4


def test_gradient_is_the_l2_gradient_divided_by_each_images_mse():
    clean, restored = _pair(scales=(1.0, 10.0))
    y_true = tf.constant(clean, tf.float32)
    y_pred = tf.Variable(restored.astype("float32"))
    with tf.GradientTape() as tape:
        loss = PSNRLoss()(y_true, y_pred)
    grad = tape.gradient(loss, y_pred).numpy().astype(np.float64)
    # reference in float64 from the float32 inputs the loss saw (their rounding, ~1e-5, is
    # not small next to the smallest errors)
    diff = restored.astype("float32").astype(np.float64) - clean.astype("float32")
    n = diff[0].size
    mse = (diff ** 2).mean(axis=(1, 2, 3))
    b = len(mse)
    expected = (10 / math.log(10)) * (2 * diff / n) / (mse[:, None, None, None]
                                                          + PSNR_LOSS_EPS) / b
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-9)
    # the image with 10x the error pulls ~10x less, where L2's pull grows with the error:
    # norm_i = c sqrt(mse_i) / (mse_i + eps), against L2's c' sqrt(mse_i)
    norms = np.sqrt((grad ** 2).sum(axis=(1, 2, 3)))
    ratio = np.sqrt(mse[0] / mse[1]) * (mse[1] + PSNR_LOSS_EPS) / (mse[0] + PSNR_LOSS_EPS)
    assert norms[0] / norms[1] == pytest.approx(ratio, rel=1e-4)
    assert 8 < ratio < 12


def test_make_loss_and_round_trip():
    assert set(LOSSES) == {"l2", "l1", "psnr"}
    assert isinstance(make_loss("l2"), keras.losses.MeanSquaredError)
    assert isinstance(make_loss("l1"), keras.losses.MeanAbsoluteError)
    loss = make_loss("psnr")
    assert isinstance(loss, PSNRLoss)
    with pytest.raises(ValueError, match="unknown loss 'l3'"):
        make_loss("l3")
    with pytest.raises(ValueError, match="eps must be > 0"):
        PSNRLoss(eps=0)
    again = keras.losses.deserialize(keras.losses.serialize(PSNRLoss(eps=0.5)))
    assert isinstance(again, PSNRLoss) and again.eps == 0.5
    TrainConfig(task="dn_rgb", loss="psnr")  # accepted by the config


def test_training_with_the_psnr_loss_lowers_it(tiny_config):
    from rnan_keras.training.trainer import train

    keras.utils.set_random_seed(0)
    cfg = tiny_config(steps=20, ckpt_every=5, lr=2e-3, loss="psnr")
    summary = train(cfg, train_dataset=fixed_batches())
    rows = read_train_log(cfg.out)
    first, last = float(rows[0]["loss"]), float(rows[-1]["loss"])
    # the logged loss is -PSNR + 48.13 dB: a lower loss is a higher training PSNR
    assert last < first - 1.0, (first, last)
    assert float(rows[-1]["psnr"]) > float(rows[0]["psnr"])
    assert summary["status"] == "complete"
