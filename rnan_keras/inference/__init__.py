"""Inference: :func:`restore` (any input kind), tiled prediction, self-ensemble, memory budget.

- :mod:`.restore` -- ``restore(image, model_or_preset, ...)`` and ``restore_array``.
- :mod:`.tiling` -- ``predict_tiled(model, x, tile, overlap)`` with smooth blending.
- :mod:`.ensemble` -- ``self_ensemble(fn, x)``, the x8 flips / rotations (RNAN+).
- :mod:`.memory` -- memory budget and automatic tile size.
- :mod:`.evaluate` -- the evaluation protocol (``image_psnr``) and ``evaluate``.

The re-exports below need TensorFlow; where it is not installed (Keras on JAX, e.g.
``scripts/train_jax.py`` on an accelerator without a TensorFlow build) they are skipped, so
the numpy-only :mod:`.evaluate` protocol can still be imported.
"""

from __future__ import annotations

from typing import Any

__all__ = ["predict_tiled", "restore", "restore_array", "self_ensemble"]

try:
    from rnan_keras.inference.ensemble import self_ensemble
    from rnan_keras.inference.restore import restore, restore_array
    from rnan_keras.inference.tiling import predict_tiled
except ModuleNotFoundError as err:
    if err.name != "tensorflow":
        raise

    def __getattr__(name: str) -> Any:
        if name in __all__:
            raise ImportError(f"rnan_keras.inference.{name} needs TensorFlow, which is not "
                              "installed (pip install rnan_keras, not only the jax extra)")
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
