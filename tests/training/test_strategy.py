"""tf.distribute strategies: mirrored training on 2 logical CPU devices (fresh process,
because logical devices must be configured before TensorFlow initialises)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from rnan_keras.training.config import TrainConfig
    from rnan_keras.training.trainer import train
    cfg = TrainConfig(task="dn_gray", train_dir=sys.argv[1], out=sys.argv[2], sigma=15,
                      model={"n_feats": 8, "n_resgroups": 2}, steps=4, patch_size=16,
                      batch_size=4, ckpt_every=2, log_every=2, strategy="mirrored",
                      tensorboard=False)
    summary = train(cfg)
    print("SUMMARY", json.dumps(summary))
""")


@pytest.mark.slow
def test_mirrored_on_two_logical_cpus(train_dir, tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(train_dir), str(tmp_path / "r")],
                            env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("SUMMARY "))
    summary = json.loads(line[len("SUMMARY "):])
    assert summary["replicas"] == 2
    assert summary["steps"] == summary["optimizer_iterations"] == 4
    assert summary["final_train_loss"] is not None and summary["final_train_loss"] > 0
    assert (tmp_path / "r" / "model.keras").is_file()


def test_make_strategy_default_and_chief(monkeypatch):
    import tensorflow as tf

    from rnan_keras.training.strategy import is_chief, make_strategy

    monkeypatch.delenv("TF_CONFIG", raising=False)
    s = make_strategy("default")
    assert s.num_replicas_in_sync == 1 and is_chief(s)
    monkeypatch.setenv("TF_CONFIG", json.dumps(
        {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}))
    assert not is_chief(tf.distribute.get_strategy())
    monkeypatch.setenv("TF_CONFIG", json.dumps(
        {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}}))
    assert is_chief(tf.distribute.get_strategy())
