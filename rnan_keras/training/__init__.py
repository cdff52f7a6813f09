"""Training RNAN with ``model.fit``: config, schedules, checkpoints, callbacks, strategies.

Entry point: :func:`rnan_keras.training.trainer.train` (``rnan train`` / ``scripts/train.py``).
"""

from __future__ import annotations

from rnan_keras.training.config import TrainConfig, config_from_dict, load_config_file

__all__ = ["TrainConfig", "config_from_dict", "load_config_file", "train"]


def train(*args, **kwargs):
    """Lazy alias of :func:`rnan_keras.training.trainer.train` (imports TensorFlow)."""
    from rnan_keras.training.trainer import train as _train

    return _train(*args, **kwargs)
