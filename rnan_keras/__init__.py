"""rnan_keras: Residual Non-local Attention Networks for image restoration in Keras 3.

Public API (imported lazily, so ``import rnan_keras`` stays cheap):

- :func:`build_model` -- build any RNAN variant (the tasks of :data:`TASKS`, from
  :mod:`rnan_keras.tasks`) with optional overrides.
- :func:`convert` -- load an official PyTorch state_dict (``.pt`` / ``.npz``) into Keras.
- :func:`restore` -- restore an image (path, PIL image or numpy array) with a model or preset.
- :meth:`RNAN.from_preset` / :func:`load_preset` -- load a shipped, trained preset by name.
- :func:`resolve_model` -- a ``keras.Model`` from a model, a ``.keras`` file or a preset name.
- :func:`export` -- export to SavedModel, TFLite or ONNX with parity checks.

Every model takes and returns NHWC float32 images on the 0-255 scale.

Importing the package registers every Keras layer, the ``RNAN`` model class and the training
PSNR metric with Keras serialisation, so ``keras.models.load_model("model.keras")`` works after
``import rnan_keras``, for the ``.keras`` files that ``rnan train`` writes too.
"""

from __future__ import annotations

import importlib
from typing import Any

from rnan_keras import layers as _layers  # noqa: F401 -- registers serialisable layers
from rnan_keras.metrics import keras_metrics as _metrics  # noqa: F401 -- the training metric
from rnan_keras.models import rnan as _rnan  # noqa: F401 -- registers the RNAN model class
from rnan_keras.version import __version__

_LAZY = {
    "build_model": "rnan_keras.models.rnan",
    "RNAN": "rnan_keras.models.rnan",
    "TASKS": "rnan_keras.tasks",
    "resolve_model": "rnan_keras.models.resolve",
    "RNANConfig": "rnan_keras.models.config",
    "VARIANTS": "rnan_keras.models.config",
    "convert": "rnan_keras.convert.official",
    "restore": "rnan_keras.inference.restore",
    "load_preset": "rnan_keras.presets.registry",
    "list_presets": "rnan_keras.presets.registry",
    "export": "rnan_keras.export.exporter",
    "make_dataset": "rnan_keras.data.pipeline",
    "make_eval_dataset": "rnan_keras.data.pipeline",
}

__all__ = [  # noqa: RUF022 -- same order as _LAZY
    "__version__",
    "build_model",
    "RNAN",
    "TASKS",
    "resolve_model",
    "RNANConfig",
    "VARIANTS",
    "convert",
    "restore",
    "load_preset",
    "list_presets",
    "export",
    "make_dataset",
    "make_eval_dataset",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        return getattr(module, name)
    raise AttributeError(f"module 'rnan_keras' has no attribute {name!r}")
