"""Fixtures of the training tests: tiny image folders, a tiny run config, a fixed overfit
dataset and the run log reader."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

TINY_MODEL = {"n_feats": 8, "n_resgroups": 2}


def _smooth_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A smooth colour image (gradients + blobs), uint8 HWC, so denoising is learnable."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    chans = []
    for _ in range(3):
        a, b, c = rng.uniform(-1, 1, 3)
        chans.append(128 + 90 * np.sin(3 * a * xx + 3 * b * yy + 6 * c))
    return np.clip(np.stack(chans, -1), 0, 255).astype(np.uint8)


def make_image_folder(folder: Path, n: int, size: tuple[int, int], seed: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(_smooth_image(rng, *size)).save(folder / f"img{i}.png")
    return folder


def fixed_batches(nan_from: int | None = None):
    """A repeated batch of 2 fixed (noisy, clean) 16x16 patches: a tiny overfit set; from
    batch ``nan_from`` on, the noisy input is NaN."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    clean = rng.uniform(60, 200, (2, 16, 16, 3)).astype("float32")
    noisy = clean + rng.normal(0, 20, clean.shape).astype("float32")
    ds = tf.data.Dataset.from_tensors((noisy, clean))
    if nan_from is None:
        return ds.repeat()
    bad = tf.data.Dataset.from_tensors((noisy * np.float32("nan"), clean))
    return ds.repeat(nan_from).concatenate(bad.repeat())


def read_train_log(run: Path) -> list[dict]:
    """The rows of a run's ``logs/train.csv``."""
    with open(Path(run) / "logs" / "train.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="session")
def train_dir(tmp_path_factory) -> Path:
    return make_image_folder(tmp_path_factory.mktemp("train"), 3, (40, 48), seed=1)


@pytest.fixture(scope="session")
def val_dir(tmp_path_factory) -> Path:
    return make_image_folder(tmp_path_factory.mktemp("val"), 2, (32, 40), seed=2)


@pytest.fixture
def tiny_config(train_dir, tmp_path):
    """A factory of tiny dn_rgb configs writing into ``tmp_path/run``."""
    from rnan_keras.training.config import TrainConfig

    def make(**kw) -> TrainConfig:
        base = {"task": "dn_rgb", "train_dir": str(train_dir), "out": str(tmp_path / "run"),
                "model": dict(TINY_MODEL), "steps": 10, "patch_size": 16, "batch_size": 2,
                "ckpt_every": 5, "log_every": 5, "sigma": 25.0, "lr": 1e-3,
                "tensorboard": False}
        base.update(kw)
        return TrainConfig(**base)

    return make
