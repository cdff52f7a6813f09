"""Matlab's colour-conversion coefficients (numpy constants, no TensorFlow), used by
:mod:`rnan_keras.data.color` and by the TensorFlow-free ``scripts/train_jax.py``."""

from __future__ import annotations

import numpy as np

# Matlab rgb2gray: first row of inv([1 0.956 0.621; 1 -0.272 -0.647; 1 -1.106 1.703]).
GRAY_COEFFS = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])

# Matlab rgb2ycbcr for double input in [0, 1]: ycbcr = OFFSET/255 + M/255 * rgb.
# On the 0-255 scale the same matrix applies with offsets (16, 128, 128).
YCBCR_MATRIX = np.array(
    [
        [65.481, 128.553, 24.966],
        [-37.797, -74.203, 112.0],
        [112.0, -93.786, -18.214],
    ]
) / 255.0
YCBCR_OFFSET = np.array([16.0, 128.0, 128.0])
