"""Inference: :func:`restore` (any input kind), tiled prediction, self-ensemble, memory budget.

- :mod:`.restore` -- ``restore(image, model_or_preset, ...)`` and ``restore_array``.
- :mod:`.tiling` -- ``predict_tiled(model, x, tile, overlap)`` with smooth blending.
- :mod:`.ensemble` -- ``self_ensemble(fn, x)``, the x8 flips / rotations (RNAN+).
- :mod:`.memory` -- memory budget and automatic tile size.
"""

from __future__ import annotations

from rnan_keras.inference.ensemble import self_ensemble
from rnan_keras.inference.restore import restore, restore_array
from rnan_keras.inference.tiling import predict_tiled

__all__ = ["predict_tiled", "restore", "restore_array", "self_ensemble"]
