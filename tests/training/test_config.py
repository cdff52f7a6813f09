"""Tests of rnan_keras.training.config (no TensorFlow needed)."""

from __future__ import annotations

import json

import pytest

from rnan_keras.errors import ConfigError
from rnan_keras.training.config import (
    TrainConfig,
    config_from_dict,
    load_config_file,
    save_config,
)


def test_paper_defaults():
    c = TrainConfig()
    assert (c.lr, c.lr_decay_steps, c.loss, c.patch_size, c.batch_size) == (
        1e-4, 200_000, "l2", 48, 16)
    assert c.effective_decay_steps == 200_000
    assert TrainConfig(lr_decay_scale=0.01).effective_decay_steps == 2000


def test_unknown_key_rejected():
    with pytest.raises(ConfigError, match="unknown config key.*bogus"):
        config_from_dict({"task": "dn_rgb", "bogus": 1})


def test_validate_messages(train_dir, tmp_path):
    ok = {"task": "dn_rgb", "train_dir": str(train_dir), "out": str(tmp_path)}
    TrainConfig(**ok).validate()
    with pytest.raises(ConfigError, match="unknown task"):
        TrainConfig(**{**ok, "task": "deblur"}).validate()
    with pytest.raises(ConfigError, match="training folder not found"):
        TrainConfig(**{**ok, "train_dir": str(tmp_path / "nope")}).validate()
    with pytest.raises(ConfigError, match="steps must be >= 1"):
        TrainConfig(**ok, steps=0).validate()
    with pytest.raises(ConfigError, match="at most one start point"):
        TrainConfig(**ok, init_model="a.keras", init_preset="x").validate()
    with pytest.raises(ConfigError, match="unknown loss"):
        TrainConfig(**ok, loss="l3").validate()
    with pytest.raises(ConfigError, match="saturation must be"):
        TrainConfig(**ok, saturation=[2.0, 1.0]).validate()


def test_json_files_load(tmp_path):
    data = {"task": "car", "quality": 10, "model": {"n_feats": 16, "n_resgroups": 2},
            "lr": 0.0002, "mixed_precision": True, "val_dir": None, "out": "runs/x"}
    (tmp_path / "c.json").write_text(json.dumps(data))
    assert load_config_file(tmp_path / "c.json") == data


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config_file(tmp_path / "missing.json")
    (tmp_path / "c.toml").write_text("x = 1")
    with pytest.raises(ConfigError, match=r"must end in \.json"):
        load_config_file(tmp_path / "c.toml")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="invalid JSON"):
        load_config_file(tmp_path / "bad.json")


def test_save_roundtrip_and_fingerprint(tmp_path):
    c = TrainConfig(task="sr_x2", model={"n_feats": 8}, steps=7)
    save_config(c, tmp_path / "config.json")
    back = config_from_dict(json.loads((tmp_path / "config.json").read_text()))
    assert back == c
    assert not list(tmp_path.glob(".*tmp"))
    # Extending the number of steps keeps the fingerprint; changing the model does not.
    assert TrainConfig(task="sr_x2", model={"n_feats": 8}, steps=99).resume_fingerprint() \
        == c.resume_fingerprint()
    assert TrainConfig(task="sr_x2", model={"n_feats": 16}).resume_fingerprint() \
        != c.resume_fingerprint()
