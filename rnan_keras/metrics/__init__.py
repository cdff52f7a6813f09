"""Evaluation metrics (numpy in, Python floats out).

- :func:`psnr`, :func:`ssim` -- BasicSR / Matlab conventions, with ``crop_border`` and
  ``y_channel`` arguments; see :mod:`rnan_keras.metrics.image_metrics`.
- ``paper_results.json`` -- the numbers reported for RNAN, with their source.
"""

from __future__ import annotations

from rnan_keras.metrics.image_metrics import psnr, rgb_to_y, ssim

__all__ = ["psnr", "rgb_to_y", "ssim"]
