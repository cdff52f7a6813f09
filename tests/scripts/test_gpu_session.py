"""scripts/gpu_session.sh: the prepared GPU session's training commands, checked without a GPU.

``DRY_RUN=1 ... run`` prints the three ``train_jax.py`` command lines the session would start;
each must parse with the script's own parser, start from a committed preset state the
script can train, and write its tar where the device tool collects files.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

from rnan_keras.training.checkpoint import CheckpointManager
from tests.conftest import load_script

ROOT = Path(__file__).resolve().parents[2]
SESSION = ROOT / "scripts" / "gpu_session.sh"
DEVICE_CALL_LIMIT_S = 600  # the device tool's most seconds per command


def _session(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SESSION), *args], cwd=ROOT, check=False,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "OUT": str(tmp_path), **env})


def test_dry_run_prints_commands_the_training_script_accepts(tmp_path):
    proc = _session(tmp_path, "run", DRY_RUN="1")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 3
    assert not list(tmp_path.iterdir())  # a dry run starts nothing
    script = load_script("scripts/train_jax.py")
    parser = script.build_parser()
    outs, starts = set(), set()
    for line in lines:
        argv = shlex.split(line)
        assert argv[0] == "scripts/train_jax.py"
        args = parser.parse_args(argv[1:])
        state = ROOT / args.init_state
        config = json.loads((state / "config.json").read_text())
        assert config["task"] in script.TASKS
        assert CheckpointManager(state / "checkpoints").list(), state
        if args.n_feats is not None:  # widening only grows
            assert args.n_feats >= config["model"]["n_feats"]
        starts.add((str(args.init_state), args.n_feats or config["model"]["n_feats"]))
        assert args.tar.parent == tmp_path  # $OUT: what the device tool brings back
        assert args.minutes * 60 < DEVICE_CALL_LIMIT_S  # side by side, within one call
        assert str(args.train_dir).startswith(".devdata/")  # what `prepare` makes
        outs.add(args.out)
    assert len(outs) == 3  # separate run folders
    assert len(starts) == 3  # three different candidates (state, width), not one twice


def test_without_a_command_it_prints_its_usage():
    proc = subprocess.run(["bash", str(SESSION)], cwd=ROOT, check=False, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("usage: ") and lines[0].endswith("prepare|run")
    assert proc.stdout == ""
