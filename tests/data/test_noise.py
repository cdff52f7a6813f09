"""AWGN: statistics, per-image sigma, determinism, clipping and rounding."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from rnan_keras.data.noise import add_gaussian_noise, sample_per_image


@pytest.mark.parametrize("sigma", [5.0, 25.0, 50.0])
def test_noise_statistics_on_flat_image(sigma):
    x = np.full((256, 256, 3), 128.0, np.float32)
    noise = add_gaussian_noise(x, sigma, seed=7).numpy() - x
    assert abs(noise.mean()) < 0.02 * sigma
    assert noise.std() == pytest.approx(sigma, rel=0.01)
    # independent channels: near-zero correlation between R and G noise
    corr = np.corrcoef(noise[..., 0].ravel(), noise[..., 1].ravel())[0, 1]
    assert abs(corr) < 0.02


def test_seed_is_deterministic_and_seeds_differ():
    x = tf.zeros((2, 32, 32, 1))
    a = add_gaussian_noise(x, 10.0, seed=1).numpy()
    b = add_gaussian_noise(x, 10.0, seed=1).numpy()
    c = add_gaussian_noise(x, 10.0, seed=2).numpy()
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).mean() > 1.0
    # a [2] tensor seed works inside tf.function too
    fn = tf.function(lambda t, s: add_gaussian_noise(t, 10.0, seed=s))
    d = fn(x, tf.constant([3, 4])).numpy()
    e = fn(x, tf.constant([3, 4])).numpy()
    np.testing.assert_array_equal(d, e)


def test_per_image_sigma():
    x = tf.fill((3, 128, 128, 1), 100.0)
    sigma = tf.constant([0.0, 10.0, 40.0])
    y = add_gaussian_noise(x, sigma, seed=3).numpy() - 100.0
    stds = y.reshape(3, -1).std(axis=1)
    assert stds[0] == 0.0
    np.testing.assert_allclose(stds[1:], [10.0, 40.0], rtol=0.03)


def test_clip_and_round():
    x = tf.fill((64, 64, 1), 250.0)
    raw = add_gaussian_noise(x, 30.0, seed=5).numpy()
    assert raw.max() > 255.0 and not np.allclose(raw, np.round(raw))
    y = add_gaussian_noise(x, 30.0, seed=5, clip=True, round_values=True).numpy()
    assert y.min() >= 0.0 and y.max() == 255.0
    np.testing.assert_array_equal(y, np.round(y))
    np.testing.assert_array_equal(y, np.clip(np.floor(raw + 0.5), 0, 255))


def test_sample_per_image_ranges():
    s = sample_per_image(1000, 5.0, 50.0, seed=1).numpy()
    assert s.shape == (1000,) and s.min() >= 5.0 and s.max() <= 50.0
    q = sample_per_image(1000, 10, 40, seed=1, dtype=tf.int32).numpy()
    assert q.min() == 10 and q.max() == 40  # inclusive integer range
    np.testing.assert_array_equal(s, sample_per_image(1000, 5.0, 50.0, seed=1).numpy())
