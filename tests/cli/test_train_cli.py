"""Tests of ``rnan train`` / ``scripts/train.py`` argument handling and a tiny end-to-end run."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rnan_keras.cli import train as train_cli
from rnan_keras.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def _parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    train_cli.add_arguments(p)
    return p.parse_args(list(argv))


def test_options_map_to_config(tmp_path):
    args = _parse("car", "--train-dir", str(tmp_path), "--out", "o", "--quality", "10-40",
                  "--n-feats", "16", "--n-resgroups", "2", "--model-arg", "chunk_size=256",
                  "--lr-decay-scale", "0.01", "--loss", "l1", "--mixed-precision",
                  "--no-tensorboard")
    cfg = train_cli.config_from_args(args)
    assert cfg.task == "car" and cfg.quality == [10, 40] and cfg.loss == "l1"
    assert cfg.model == {"n_feats": 16, "n_resgroups": 2, "chunk_size": 256}
    assert cfg.effective_decay_steps == 2000
    assert cfg.mixed_precision and not cfg.tensorboard
    assert cfg.batch_size == 16 and cfg.patch_size == 48  # paper defaults untouched


def test_sigma_forms(tmp_path):
    base = ("dn_gray", "--train-dir", str(tmp_path), "--out", "o")
    assert train_cli.config_from_args(_parse(*base, "--sigma", "25")).sigma == 25.0
    assert train_cli.config_from_args(_parse(*base, "--sigma", "0-75")).sigma == [0.0, 75.0]
    sat = train_cli.config_from_args(_parse(*base, "--saturation", "1-2"))
    assert sat.saturation == [1.0, 2.0] and sat.validate() is sat
    with pytest.raises(ConfigError, match="saturation must be"):
        train_cli.config_from_args(_parse(*base, "--saturation", "2")).validate()
    with pytest.raises(SystemExit):
        _parse(*base, "--sigma", "abc")


def test_widen_option(tmp_path):
    from rnan_keras.training.trainer import resolve_start_point

    args = _parse("--train-dir", str(tmp_path), "--out", "o", "--init-preset", "dn_gray_small",
                  "--n-feats", "24", "--widen")
    cfg = resolve_start_point(train_cli.config_from_args(args))
    assert cfg.widen and cfg.task == "dn_gray"
    # the preset's architecture, with the wider n_feats on top
    assert cfg.model["n_feats"] == 24 and cfg.model["n_resgroups"] == 2
    assert not train_cli.config_from_args(_parse("dn_gray", "--train-dir", str(tmp_path),
                                                 "--out", "o")).widen


def test_config_file_with_command_line_override(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps(
        {"task": "sr_x2", "train_dir": str(tmp_path), "out": str(tmp_path / "o"), "steps": 50,
         "model": {"n_feats": 8, "n_resgroups": 2}}))
    cfg = train_cli.config_from_args(_parse("--config", str(tmp_path / "run.json"),
                                            "--steps", "70", "--n-feats", "12"))
    assert cfg.task == "sr_x2" and cfg.steps == 70
    assert cfg.model == {"n_feats": 12, "n_resgroups": 2}


def test_errors_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="give a task"):
        train_cli.config_from_args(_parse("--train-dir", str(tmp_path), "--out", "o"))
    with pytest.raises(ConfigError, match="training folder not found"):
        train_cli.config_from_args(_parse("dn_rgb", "--train-dir", str(tmp_path / "x"),
                                          "--out", "o"))


def test_a_stopped_run_exits_like_the_signal(tmp_path, monkeypatch):
    from rnan_keras.training import trainer

    args = _parse("dn_rgb", "--train-dir", str(tmp_path), "--out", str(tmp_path / "o"))
    for stopped_by, code in ((None, 0), ("SIGTERM", 143), ("SIGINT", 130)):
        monkeypatch.setattr(trainer, "train", lambda config, s=stopped_by: {"stopped_by": s})
        assert train_cli.run(args) == code


def test_script_runs_and_reports_errors(tmp_path):
    bad = subprocess.run([sys.executable, str(REPO / "scripts" / "train.py"), "dn_rgb",
                          "--train-dir", str(tmp_path / "missing"), "--out", str(tmp_path / "o")],
                         capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 2
    assert "train.py: error: training folder not found" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_rnan_train_end_to_end(tmp_path):
    pytest.importorskip("tensorflow")
    from PIL import Image

    from rnan_keras.cli.main import main

    (tmp_path / "imgs").mkdir()
    for i in range(2):
        Image.new("L", (24, 24), color=40 + 100 * i).save(tmp_path / "imgs" / f"{i}.png")
    out = tmp_path / "run"
    rc = main(["train", "dn_gray", "--train-dir", str(tmp_path / "imgs"), "--out", str(out),
               "--sigma", "10", "--n-feats", "8", "--n-resgroups", "2", "--patch-size", "16",
               "--batch-size", "2", "--steps", "2", "--ckpt-every", "2", "--no-tensorboard"])
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["task"] == "dn_gray"
    saved = json.loads((out / "config.json").read_text())
    assert saved["model"] == {"n_feats": 8, "n_resgroups": 2} and saved["sigma"] == 10.0
