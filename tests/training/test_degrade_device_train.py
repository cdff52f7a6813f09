"""``rnan train --degrade host|device``: the option, the config field, and a tiny run on the
CPU that degrades its batches inside the train step and learns."""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import warnings
from contextlib import redirect_stdout

import pytest

from rnan_keras.cli import train as train_cli
from rnan_keras.cli.main import main
from rnan_keras.data.pipeline import DEGRADE_MODES
from rnan_keras.errors import ConfigError
from rnan_keras.training import config as config_module
from rnan_keras.training.config import RESUME_KEYS, TrainConfig


def test_config_field_choices_and_resume(train_dir, tmp_path):
    assert config_module.DEGRADE_MODES == DEGRADE_MODES  # the pipeline's modes
    ok = {"task": "dn_rgb", "train_dir": str(train_dir), "out": str(tmp_path)}
    assert TrainConfig(**ok).degrade is None  # device with a GPU, else host
    for mode in ("host", "device"):
        TrainConfig(**ok, degrade=mode).validate()
    with pytest.raises(ConfigError) as err:
        TrainConfig(**ok, degrade="gpu").validate()
    assert "\n" not in str(err.value) and "host or device" in str(err.value)
    # Where batches are degraded does not change the run: resuming may switch it.
    assert "degrade" not in RESUME_KEYS
    assert TrainConfig(**ok, degrade="host").resume_fingerprint() == \
        TrainConfig(**ok, degrade="device").resume_fingerprint()


def test_cli_option(train_dir, tmp_path):
    def _parse(*argv: str) -> argparse.Namespace:
        parser = argparse.ArgumentParser()
        train_cli.add_arguments(parser)
        return parser.parse_args(list(argv))

    base = ("dn_rgb", "--train-dir", str(train_dir), "--out", str(tmp_path), "--sigma", "25")
    assert train_cli.config_from_args(_parse(*base)).degrade is None
    assert train_cli.config_from_args(_parse(*base, "--degrade", "device")).degrade == "device"
    with pytest.raises(SystemExit):
        _parse(*base, "--degrade", "gpu")


def test_device_degradation_run_learns(train_dir, tmp_path):
    # A tiny model on 3 smooth 40x48 images, patches of 24, noise drawn in the train step.
    out = tmp_path / "run"
    argv = ["train", "dn_rgb", "--train-dir", str(train_dir), "--out", str(out),
            "--degrade", "device", "--sigma", "25", "--n-feats", "8", "--n-resgroups", "2",
            "--patch-size", "24", "--batch-size", "4", "--steps", "36", "--ckpt-every", "12",
            "--log-every", "12", "--lr", "2e-3", "--no-tensorboard"]
    with redirect_stdout(io.StringIO()):
        assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["degrade"] == "device" and summary["steps"] == 36
    assert json.loads((out / "config.json").read_text())["degrade"] == "device"
    with open(out / "logs" / "train.csv", newline="") as f:
        losses = [float(row["loss"]) for row in csv.DictReader(f)]
    assert len(losses) == 3
    # Each logged loss is the mean of 12 steps; a model that learns nothing stays put, the
    # untrained one starts far above the noise's own MSE (sigma^2 = 625).
    assert losses[-1] < 0.5 * losses[0], losses


def test_device_degradation_compiles_into_the_xla_train_step(tiny_config):
    # What a GPU run does by default: the tensor-ops JPEG with one quality per patch, traced
    # into the XLA-compiled train step (no fallback to a plain graph).
    from rnan_keras.training.trainer import train

    cfg = tiny_config(task="car", sigma=None, quality=[10, 40], steps=2, ckpt_every=2,
                      log_every=2, degrade="device", jit_compile=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # the XLA fallback warns
        summary = train(cfg, stream=io.StringIO())
    assert summary["jit_compile"] is True and summary["degrade"] == "device"
    assert summary["steps"] == 2 and math.isfinite(summary["final_train_loss"])
