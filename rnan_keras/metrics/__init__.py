"""Evaluation metrics (numpy in, Python floats out).

- :func:`psnr`, :func:`ssim` -- BasicSR / Matlab conventions, with ``crop_border`` and
  ``y_channel`` arguments; see :mod:`rnan_keras.metrics.image_metrics`.
- ``paper_results.json`` -- every table (1-8) of the RNAN paper, with each table's protocol;
  read it through :mod:`rnan_keras.metrics.paper_results` (``paper_number``,
  ``rnan_number``, ``sections``, ``build_options``).
"""

from __future__ import annotations

from rnan_keras.metrics.image_metrics import psnr, rgb_to_y, ssim

__all__ = ["psnr", "rgb_to_y", "ssim"]
