"""PSNR / SSIM against scikit-image and hand-computed values on real benchmark images."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from rnan_keras.data.image_io import read_image
from rnan_keras.errors import InvalidImageError
from rnan_keras.metrics import psnr, rgb_to_y, ssim


def _noisy(clean: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.round(clean + rng.normal(0, sigma, clean.shape)), 0, 255)


def _sk_ssim(a, b, data_range=255):
    return structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        data_range=data_range, channel_axis=2,
    )


@pytest.fixture(scope="module")
def kodim(shared_dir: Path) -> np.ndarray:
    return read_image(shared_dir / "data/testsets/Kodak24/kodim03.png").astype(np.float64)


@pytest.fixture(scope="module")
def gray(shared_dir: Path) -> np.ndarray:
    return read_image(shared_dir / "data/testsets/Set12/05.png").astype(np.float64)


def test_psnr_hand_computed():
    a = np.zeros((10, 10, 3))
    b = a + 5.0  # MSE = 25 exactly
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 25), abs=1e-12)
    assert psnr(a, a) == math.inf
    # Crop: the only differing pixels lie in the border.
    c = a.copy()
    c[0, :, :] = 100
    assert psnr(a, c, crop_border=1) == math.inf
    assert psnr(a, c) == pytest.approx(10 * math.log10(255**2 / (100**2 / 10)), abs=1e-12)


def test_psnr_matches_skimage_on_real_image(kodim):
    for sigma in (5, 15, 50):
        noisy = _noisy(kodim, sigma)
        assert psnr(kodim, noisy) == pytest.approx(
            peak_signal_noise_ratio(kodim, noisy, data_range=255), abs=1e-10
        )


def test_psnr_uint16_data_range(kodim):
    a16 = (kodim * 257).astype(np.uint16)
    b16 = (_noisy(kodim, 10) * 257).astype(np.uint16)
    expected = peak_signal_noise_ratio(a16, b16, data_range=65535)
    assert psnr(a16, b16, data_range=65535) == pytest.approx(expected, abs=1e-10)


def test_ssim_matches_skimage_rgb_and_gray(kodim, gray):
    for clean in (kodim, gray):
        for sigma in (10, 30):
            noisy = _noisy(clean, sigma, seed=sigma)
            assert ssim(clean, noisy) == pytest.approx(_sk_ssim(clean, noisy), abs=1e-9)


def test_ssim_crop_border_and_identity(kodim):
    noisy = _noisy(kodim, 20)
    expected = _sk_ssim(kodim[4:-4, 4:-4], noisy[4:-4, 4:-4])
    assert ssim(kodim, noisy, crop_border=4) == pytest.approx(expected, abs=1e-9)
    assert ssim(kodim, kodim) == pytest.approx(1.0, abs=1e-12)


def test_ssim_hand_computed_constant_images():
    # Two constant images a and b: sigma terms vanish, so
    # SSIM = (2ab + C1) / (a^2 + b^2 + C1) with C1 = (0.01 * 255)^2.
    a, b = 100.0, 120.0
    c1 = (0.01 * 255) ** 2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    assert ssim(np.full((16, 16), a), np.full((16, 16), b)) == pytest.approx(expected, rel=1e-12)


def test_y_channel_matches_matlab_rgb2ycbcr(kodim):
    np.testing.assert_allclose(rgb_to_y(np.array([[[0, 0, 0], [255, 255, 255]]]))[..., 0],
                               [[16.0, 235.0]], atol=1e-9)
    y_ref = rgb2ycbcr(kodim / 255.0)[..., :1]
    np.testing.assert_allclose(rgb_to_y(kodim), y_ref, atol=1e-9)
    noisy = _noisy(kodim, 15)
    y_noisy = rgb2ycbcr(noisy / 255.0)[..., :1]
    assert psnr(kodim, noisy, y_channel=True, crop_border=2) == pytest.approx(
        peak_signal_noise_ratio(y_ref[2:-2, 2:-2], y_noisy[2:-2, 2:-2], data_range=255),
        abs=1e-9,
    )
    assert ssim(kodim, noisy, y_channel=True) == pytest.approx(
        _sk_ssim(y_ref, y_noisy), abs=1e-9
    )
    # Y PSNR differs from RGB PSNR (independent noise per channel partly averages out).
    assert psnr(kodim, noisy, y_channel=True) > psnr(kodim, noisy) + 1.0


def test_gray_input_ignores_y_channel(gray):
    noisy = _noisy(gray, 25)
    assert psnr(gray, noisy, y_channel=True) == psnr(gray, noisy)
    assert psnr(gray[..., 0], noisy[..., 0]) == psnr(gray, noisy)


def test_metric_errors():
    with pytest.raises(InvalidImageError, match="shapes"):
        psnr(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(InvalidImageError, match="at least 11x11"):
        ssim(np.zeros((10, 20)), np.zeros((10, 20)))
    with pytest.raises(InvalidImageError, match="NaN"):
        psnr(np.full((4, 4), np.nan), np.zeros((4, 4)))
    with pytest.raises(InvalidImageError, match="no pixels"):
        psnr(np.zeros((4, 4)), np.zeros((4, 4)), crop_border=2)
