"""Real multi-worker training: two local worker processes (TF_CONFIG on 127.0.0.1 ports)
train synchronously with ``--strategy multi-worker`` and end with the same weights."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
STEPS = 3

WORKER = textwrap.dedent("""
    import sys
    import numpy as np
    from rnan_keras.training import trainer
    from rnan_keras.training.config import TrainConfig

    built = []
    real_build = trainer.build_training_model

    def build(config):  # keep a handle on the model to dump its weights afterwards
        built.append(real_build(config))
        return built[-1]

    trainer.build_training_model = build
    train_dir, out, weights = sys.argv[1:4]
    cfg = TrainConfig(task="dn_gray", train_dir=train_dir, out=out, sigma=15,
                      model={"n_feats": 8, "n_resgroups": 2}, steps=N_STEPS, patch_size=16,
                      batch_size=4, ckpt_every=N_STEPS, log_every=1, strategy="multi-worker",
                      tensorboard=False, jit_compile=False)
    summary = trainer.train(cfg)
    np.savez(weights, *built[-1].get_weights())
    print("STEPS", summary["steps"], summary["optimizer_iterations"], summary["replicas"])
""").replace("N_STEPS", str(STEPS))


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@pytest.mark.slow
def test_two_workers_train_in_sync(train_dir, tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO),
               "TF_CONFIG": json.dumps({"cluster": cluster,
                                        "task": {"type": "worker", "index": index}})}
        cmd = [sys.executable, "-c", WORKER, str(train_dir), str(tmp_path / f"run{index}"),
               str(tmp_path / f"w{index}.npz")]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=300))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
        # Two replicas in sync: every worker ran every step of the global batch.
        assert f"STEPS {STEPS} {STEPS} 2" in out, out + err[-2000:]
    with np.load(tmp_path / "w0.npz") as w0, np.load(tmp_path / "w1.npz") as w1:
        first = [w0[k] for k in w0.files]
        second = [w1[k] for k in w1.files]
    assert len(first) == len(second) > 0
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)  # all-reduced gradients: identical updates
    # Only the chief (worker 0) writes the run folder's model and summary.
    assert (tmp_path / "run0" / "model.keras").is_file()
    assert not (tmp_path / "run1" / "model.keras").exists()
