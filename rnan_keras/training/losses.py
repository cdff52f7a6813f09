"""Training losses: L2 (the paper's), L1, and a per-image PSNR loss for blind ranges.

With a blind noise range (``sigma=[0, 75]``) the L2 loss of a batch is dominated by its
noisiest patches: a patch's squared error grows with its sigma (about 4x from sigma 15 to
sigma 50 for these models), so the low-noise patches steer the weights least. The
``"psnr"`` loss averages ``10 log10(MSE_i + eps)`` over the images ``i`` of the batch
instead, i.e. it maximises the mean per-image PSNR (the metric the results are reported
in): the gradient of image ``i`` is its L2 gradient divided by its own MSE, so every image
counts alike whatever its noise level. HINet (Chen et al., 2021) trains with such a loss.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from rnan_keras.training.config import LOSSES

#: Added to each image's MSE (0-255 scale) before the log: 1e-2 is PSNR 68 dB, far above
#: any restoration here, so it only keeps the log finite for an exact output.
PSNR_LOSS_EPS = 1e-2


@keras.saving.register_keras_serializable(package="rnan_keras")
class PSNRLoss(keras.losses.Loss):
    """``10 log10(mean((y_pred - y_true)^2) + eps)`` per image, averaged over the batch.

    Inputs are ``(B, H, W, C)`` on any scale (the trainer's is 0-255; ``eps`` is in that
    scale's squared units). The value is minus the per-image PSNR up to a constant; lower is
    better, and it may be negative.
    """

    def __init__(self, eps: float = PSNR_LOSS_EPS, name: str = "psnr_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        self.eps = float(eps)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        mse = ops.mean(ops.square(y_pred - y_true), axis=tuple(range(1, len(y_pred.shape))))
        return (10.0 / math.log(10.0)) * ops.log(mse + self.eps)

    def get_config(self) -> dict:
        return {**super().get_config(), "eps": self.eps}


def make_loss(name: str) -> keras.losses.Loss:
    """The loss called ``name`` (one of :data:`rnan_keras.training.config.LOSSES`)."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    if name == "l1":
        return keras.losses.MeanAbsoluteError()
    if name == "psnr":
        return PSNRLoss()
    return keras.losses.MeanSquaredError()
