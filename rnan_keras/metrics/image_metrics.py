"""PSNR and SSIM with the conventions of the BasicSR / Matlab evaluation scripts.

Both functions take two images of the same shape, ``(H, W)`` or ``(H, W, C)``, as numpy
arrays of any numeric dtype on the scale given by ``data_range`` (255 for 8-bit images and
for the package's float 0-255 images; 65535 for uint16). Computation is in float64.

Protocol arguments (explicit, as in BasicSR's ``calculate_psnr`` / ``calculate_ssim``):

- ``crop_border``: pixels removed from every side before measuring (SR uses the scale).
- ``y_channel``: measure on the luma of Matlab ``rgb2ycbcr`` (BT.601, Y in 16-235 on the
  0-255 scale), computed without rounding, like BasicSR's ``to_y_channel``. Ignored for
  one-channel images.

SSIM (Wang et al. 2004): 11x11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03,
``C1 = (K1 L)^2``, ``C2 = (K2 L)^2`` with ``L = data_range``; the window is applied with
"valid" filtering (no padding: the SSIM map is ``(H - 10) x (W - 10)``) and the map is
averaged; colour images average the per-channel SSIM. This equals Matlab's ``ssim_index``
without its automatic down-sampling, BasicSR's ``calculate_ssim`` and scikit-image's
``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``.

Callers comparing saved results should quantise first (round and clip to the integer range),
as the paper's Matlab scripts evaluated 8-bit image files.
"""

from __future__ import annotations

import numpy as np

from rnan_keras.errors import InvalidImageError

# Matlab rgb2ycbcr luma row on the 0-255 scale (offset 16 * data_range / 255).
Y_COEFFS = np.array([65.481, 128.553, 24.966]) / 255.0

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def rgb_to_y(image: np.ndarray, data_range: float = 255.0) -> np.ndarray:
    """Matlab ``rgb2ycbcr`` luma: ``(H, W, 3)`` RGB -> ``(H, W, 1)`` float64 Y (unrounded).

    On the 0-255 scale Y lies in 16..235.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise InvalidImageError(f"rgb_to_y expects (H, W, 3), got shape {image.shape}")
    y = image @ Y_COEFFS + 16.0 * float(data_range) / 255.0
    return y[:, :, None]


def _prepare(a, b, crop_border: int, y_channel: bool, data_range: float):
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise InvalidImageError(f"images have different shapes: {a.shape} and {b.shape}")
    if a.ndim == 2:
        a, b = a[:, :, None], b[:, :, None]
    if a.ndim != 3:
        raise InvalidImageError(f"expected (H, W) or (H, W, C) images, got shape {a.shape}")
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise InvalidImageError("images contain NaN or Inf")
    crop_border = int(crop_border)
    if crop_border < 0:
        raise InvalidImageError(f"crop_border must be >= 0, got {crop_border}")
    if crop_border:
        a = a[crop_border:-crop_border, crop_border:-crop_border]
        b = b[crop_border:-crop_border, crop_border:-crop_border]
        if a.size == 0:
            raise InvalidImageError(f"crop_border={crop_border} leaves no pixels")
    if y_channel and a.shape[-1] == 3:
        a = rgb_to_y(a, data_range)
        b = rgb_to_y(b, data_range)
    elif y_channel and a.shape[-1] != 1:
        raise InvalidImageError(f"y_channel needs 1 or 3 channels, got {a.shape[-1]}")
    return a, b


def psnr(a: np.ndarray, b: np.ndarray, *, data_range: float = 255.0, crop_border: int = 0,
         y_channel: bool = False) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range^2 / MSE)``; inf if identical."""
    a, b = _prepare(a, b, crop_border, y_channel, data_range)
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(float(data_range) ** 2 / mse))


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """Normalised 1-D Gaussian (Matlab ``fspecial('gaussian')`` / OpenCV ``getGaussianKernel``)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    w = np.exp(-(x**2) / (2.0 * sigma**2))
    return w / w.sum()


def _filter_valid(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation of a 2-D array with the outer product ``w w^T``."""
    k = len(w)
    h, wd = x.shape
    rows = sum(w[i] * x[i : h - k + 1 + i, :] for i in range(k))
    return sum(w[j] * rows[:, j : wd - k + 1 + j] for j in range(k))


def _ssim_channel(a: np.ndarray, b: np.ndarray, data_range: float) -> float:
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    w = gaussian_window()
    mu_a = _filter_valid(a, w)
    mu_b = _filter_valid(b, w)
    var_a = _filter_valid(a * a, w) - mu_a**2
    var_b = _filter_valid(b * b, w) - mu_b**2
    cov = _filter_valid(a * b, w) - mu_a * mu_b
    num = (2.0 * mu_a * mu_b + c1) * (2.0 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return float(np.mean(num / den))


def ssim(a: np.ndarray, b: np.ndarray, *, data_range: float = 255.0, crop_border: int = 0,
         y_channel: bool = False) -> float:
    """Structural similarity (mean over the valid SSIM map and over channels), in [-1, 1]."""
    a, b = _prepare(a, b, crop_border, y_channel, data_range)
    if a.shape[0] < SSIM_WINDOW or a.shape[1] < SSIM_WINDOW:
        raise InvalidImageError(
            f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels after "
            f"cropping, got {a.shape[0]}x{a.shape[1]}"
        )
    values = [_ssim_channel(a[:, :, c], b[:, :, c], float(data_range)) for c in range(a.shape[2])]
    return float(np.mean(values))
