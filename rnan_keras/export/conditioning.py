"""Random-weight RNANs that are as well conditioned as trained ones (tests, benchmarks).

A freshly initialised RNAN on the 0-255 scale is numerically chaotic: activations reach
~1e4, the non-local softmax saturates, and float32 round-off alone (a different conv
algorithm, a different summation order) moves outputs by more than 1 on 0-255 -- so an
export cannot be compared with Keras at the 1e-2 level. Trained models are far better
behaved. :func:`conditioned_random_model` rescales the random kernels (head by 10/255, tail
by 30, every other kernel by 0.5; the RGB mean shifts are kept) so that the output moves
by about as much as the input (a 1e-2 input change moves a ``dn_rgb`` output by ~1e-2)
while still depending on it.
"""

from __future__ import annotations

from typing import Any

from rnan_keras.tasks import DEFAULT_TASK

HEAD_GAIN = 10.0 / 255.0
BODY_GAIN = 0.5
TAIL_GAIN = 30.0
_FIXED = ("sub_mean", "add_mean")  # the RGB mean shifts of SR models stay as they are


def conditioned_random_model(variant: str = DEFAULT_TASK, seed: int = 0, **overrides: Any):
    """``build_model(variant, **overrides)`` with seeded, rescaled random weights."""
    import keras

    from rnan_keras.models.rnan import build_model

    keras.utils.set_random_seed(seed)
    model = build_model(variant, **overrides)
    weights = []
    for var in model.weights:
        value = getattr(var, "value", var).numpy()
        top = var.path.split("/")[0]
        if var.path.endswith("kernel") and top not in _FIXED:
            value = value * {"head": HEAD_GAIN, "tail": TAIL_GAIN}.get(top, BODY_GAIN)
        weights.append(value)
    model.set_weights(weights)
    return model
