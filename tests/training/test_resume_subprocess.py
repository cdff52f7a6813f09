"""A training process killed with SIGKILL resumes at its last checkpoint (not from 0)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rnan_keras.training.checkpoint import CheckpointManager

REPO = Path(__file__).resolve().parents[2]


def _cmd(train_dir, out, steps) -> list[str]:
    return [sys.executable, str(REPO / "scripts" / "train.py"), "dn_rgb",
            "--train-dir", str(train_dir), "--out", str(out), "--sigma", "25",
            "--n-feats", "8", "--n-resgroups", "2", "--patch-size", "16", "--batch-size", "2",
            "--steps", str(steps), "--ckpt-every", "3", "--log-every", "1", "--lr", "1e-3",
            "--lr-decay-steps", "4", "--no-tensorboard"]


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kill_9_then_resume(train_dir, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(_cmd(train_dir, out, 10_000), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    mgr = CheckpointManager(out / "checkpoints")
    deadline = time.monotonic() + 240
    try:
        while not any(step >= 6 for step, _ in mgr.list()):
            assert proc.poll() is None, "training process exited early"
            assert time.monotonic() < deadline, "no checkpoint written in time"
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    saved_step, saved_path = mgr.list()[0]
    saved = CheckpointManager.load(saved_path)
    assert saved_step >= 6 and saved.meta["optimizer_iterations"] == saved_step

    # Rerun the same command with a few more steps: it must continue, not restart.
    result = subprocess.run(_cmd(train_dir, out, saved_step + 2), env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (f"resuming from {saved_path.name}: step {saved_step}, optimizer iterations "
            f"{saved_step}") in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed_from_step"] == saved_step
    assert summary["steps"] == summary["optimizer_iterations"] == saved_step + 2
    # lr 1e-3 halved every 4 steps: the schedule continues from the restored counter.
    assert summary["final_lr"] == pytest.approx(1e-3 * 0.5 ** ((saved_step + 2) // 4))
