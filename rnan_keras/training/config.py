"""Training configuration: one dataclass, loaded from and saved as JSON next to the run.

The keys of a config file are the long CLI options with ``_`` instead of ``-`` (``patch_size``,
``lr_decay_steps``, ...) plus a ``model`` mapping of :func:`rnan_keras.build_model` overrides
(``{"n_feats": 16, "n_resgroups": 2}``). Values given on the command line win over the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from rnan_keras.data.image_io import atomic_write_bytes
from rnan_keras.errors import ConfigError
from rnan_keras.tasks import TASKS

#: Training losses (rnan_keras.training.losses): the paper's L2, L1, per-image PSNR.
LOSSES = ("l2", "l1", "psnr")
STRATEGIES = ("default", "mirrored", "multi-worker")
#: Where training batches are degraded (rnan_keras.data.pipeline.DEGRADE_MODES).
DEGRADE_MODES = ("host", "device")

# Keys that define the network and its data; a resumed run must agree on them.
RESUME_KEYS = ("task", "model", "loss", "sigma", "quality", "mixed_precision")


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run needs. Defaults follow the RNAN paper (Adam, lr 1e-4
    halved every 2e5 steps, L2 loss, 48x48 patches, batch 16)."""

    task: str = ""
    train_dir: str = ""
    out: str = ""
    val_dir: str | None = None
    model: dict[str, Any] = dataclasses.field(default_factory=dict)
    steps: int = 1000
    patch_size: int = 48
    batch_size: int = 16
    lr: float = 1e-4
    lr_decay_steps: int = 200_000
    lr_decay_scale: float = 1.0
    loss: str = "l2"
    sigma: float | list[float] | None = None  # [lo, hi]: a blind range drawn per patch
    quality: int | list[int] | None = None
    # [lo, hi]: colour tasks' saturation augmentation of the clean patches (None: off)
    saturation: list[float] | None = None
    seed: int = 0
    ckpt_every: int = 1000
    keep_checkpoints: int = 2
    val_every: int | None = None
    val_max_images: int | None = None
    val_tile: int = 0
    log_every: int = 50
    tensorboard: bool = True
    mixed_precision: bool = False
    # XLA train step: None = where it is faster (with a GPU; on this project's 2-core CPU
    # it measured 1.0 s vs 0.65 s per small-config step), True / False to force it.
    jit_compile: bool | None = None
    # Where the batches are degraded: "host" (tf.data, CPU) or "device" (in the train step,
    # on the model's device); None = device when TensorFlow sees a GPU, else host.
    degrade: str | None = None
    strategy: str = "default"
    init_preset: str | None = None
    init_model: str | None = None
    init_official: str | None = None
    # grow the start point to the model's larger n_feats, same function (Net2WiderNet)
    widen: bool = False

    @property
    def effective_decay_steps(self) -> int:
        """Steps between learning-rate halvings after ``lr_decay_scale`` (at least 1)."""
        return max(1, round(self.lr_decay_steps * self.lr_decay_scale))

    @property
    def effective_val_every(self) -> int:
        return int(self.val_every or self.ckpt_every)

    def validate(self) -> TrainConfig:
        """Check values; raise :class:`ConfigError` with a readable message. Returns self."""
        if self.task not in TASKS:
            raise ConfigError(f"unknown task {self.task!r}; choose one of {', '.join(TASKS)}")
        if not self.train_dir:
            raise ConfigError("a training image folder is required (--train-dir)")
        if not Path(self.train_dir).exists():
            raise ConfigError(f"training folder not found: {self.train_dir}")
        if self.val_dir and not Path(self.val_dir).is_dir():
            raise ConfigError(f"validation folder not found: {self.val_dir}")
        if not self.out:
            raise ConfigError("an output folder is required (--out)")
        if self.loss not in LOSSES:
            raise ConfigError(f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        if self.degrade is not None and self.degrade not in DEGRADE_MODES:
            raise ConfigError(f"unknown degrade mode {self.degrade!r}; choose "
                              f"{' or '.join(DEGRADE_MODES)}")
        if self.strategy not in STRATEGIES:
            raise ConfigError(
                f"unknown strategy {self.strategy!r}; choose one of {', '.join(STRATEGIES)}"
            )
        for key in ("steps", "patch_size", "batch_size", "ckpt_every", "keep_checkpoints",
                    "log_every", "lr_decay_steps"):
            if int(getattr(self, key)) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.val_every is not None and self.val_every < 1:
            raise ConfigError(f"val_every must be >= 1, got {self.val_every}")
        if not self.lr > 0 or not self.lr_decay_scale > 0:
            raise ConfigError("lr and lr_decay_scale must be positive")
        inits = [k for k in ("init_preset", "init_model", "init_official") if getattr(self, k)]
        if len(inits) > 1:
            raise ConfigError(f"give at most one start point, got {', '.join(inits)}")
        if self.widen and not inits:
            raise ConfigError("--widen needs a start point (--init-preset, --init-model or "
                              "--init-official) to widen")
        if self.widen and "n_feats" not in (self.model or {}):
            raise ConfigError("--widen needs --n-feats: the width to grow the start point to")
        for key in ("sigma", "quality"):
            value = getattr(self, key)
            if isinstance(value, list | tuple) and (len(value) != 2 or value[0] > value[1]):
                raise ConfigError(f"{key} range must be [low, high], got {value}")
        sat = self.saturation
        if sat is not None and (not isinstance(sat, list | tuple) or len(sat) != 2
                                or not 0 <= sat[0] <= sat[1]):
            raise ConfigError(f"saturation must be [low, high] with 0 <= low <= high, got {sat}")
        if not isinstance(self.model, dict):
            raise ConfigError("'model' must be a mapping of build_model overrides")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def resume_fingerprint(self) -> str:
        """Hash of the keys a resumed run must share with the run it continues."""
        sub = {k: getattr(self, k) for k in RESUME_KEYS}
        return hashlib.sha256(json.dumps(sub, sort_keys=True).encode()).hexdigest()[:16]


FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Build a :class:`TrainConfig` from a mapping; unknown keys raise :class:`ConfigError`."""
    data = {k.replace("-", "_"): v for k, v in data.items()}
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise ConfigError(f"unknown config key(s): {', '.join(unknown)}")
    return TrainConfig(**data)


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a JSON (``.json``) config file, such as a run's ``config.json``, into a mapping."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    if path.suffix.lower() != ".json":
        raise ConfigError(f"{path}: config files are JSON and must end in .json")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of config keys")
    return data


#: Columns of a run's learning curve, ``logs/train.csv`` (one row per checkpoint).
CSV_FIELDS = ("step", "loss", "psnr", "lr", "val_psnr", "wall_time_s")


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    atomic_write_bytes(path, text.encode("utf-8"))


def save_config(config: TrainConfig, path: str | os.PathLike) -> None:
    """Save ``config`` as JSON (atomically)."""
    atomic_write_text(path, json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n")
