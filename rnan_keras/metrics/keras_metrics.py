"""The training-time PSNR metric, as a registered Keras function.

It lives outside :mod:`rnan_keras.training` so that ``import rnan_keras`` registers it: a
``.keras`` file written by ``rnan train`` (compiled with this metric) then loads with plain
``keras.models.load_model(path)``, without importing the trainer first.
"""

from __future__ import annotations

import math

import keras


@keras.saving.register_keras_serializable(package="rnan_keras", name="psnr_metric")
def psnr_metric(y_true, y_pred):
    """Per-batch PSNR (dB) of ``(B, H, W, C)`` images on the 0-255 scale, averaged over the
    images (training metric; evaluation uses :mod:`rnan_keras.metrics.image_metrics`)."""
    y_true = keras.ops.cast(y_true, "float32")
    y_pred = keras.ops.cast(y_pred, "float32")
    mse = keras.ops.mean(keras.ops.square(y_true - y_pred), axis=(1, 2, 3))
    return 10.0 * keras.ops.log(255.0**2 / keras.ops.maximum(mse, 1e-10)) / math.log(10.0)


psnr_metric.__name__ = "psnr"
