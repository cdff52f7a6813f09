"""Interrupting ``rnan restore`` on a folder (a real subprocess and real signals).

SIGINT / SIGTERM: the run stops after the current image, says how many were done, exits with
130 and leaves only complete outputs (no temporary files). SIGKILL cannot be caught, so a
temporary file may stay behind, but every output present is complete, and running the same
command again finishes the job (existing outputs are skipped).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rnan_keras.data.image_io import read_image, write_image

N_IMAGES = 24
SIDE = 32


@pytest.fixture(scope="module")
def input_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("to_restore")
    rng = np.random.default_rng(0)
    for i in range(N_IMAGES):
        write_image(folder / f"img{i:02d}.png", rng.integers(0, 256, (SIDE, SIDE, 3), np.uint8))
    return folder


def _start(folder: Path, out: Path, model: Path) -> subprocess.Popen:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    # --ensemble makes each image slow enough that the signal lands mid-run.
    cmd = [sys.executable, "-m", "rnan_keras.cli.main", "restore", str(folder), "-o", str(out),
           "--model", str(model), "--ensemble", "--tile", "none", "-q"]
    return subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=env)


def _wait_for_first_output(proc: subprocess.Popen, out: Path, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if out.is_dir() and any(not p.name.startswith(".") for p in out.iterdir()):
            return
        if proc.poll() is not None:
            raise AssertionError(f"rnan restore ended early: {proc.communicate()}")
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("no output appeared")


def _complete_outputs(out: Path) -> list[str]:
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    for name in names:  # every output present decodes completely
        assert read_image(out / name).shape == (SIDE, SIDE, 3), name
    return names


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_after_the_current_image(input_folder, tiny_model_file, tmp_path, signum):
    out = tmp_path / "out"
    proc = _start(input_folder, out, tiny_model_file)
    _wait_for_first_output(proc, out)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    names = _complete_outputs(out)
    assert 1 <= len(names) < N_IMAGES, err
    assert f"interrupted: restored {len(names)} of {N_IMAGES} images" in err
    assert names == [f"img{i:02d}.png" for i in range(len(names))]  # in order, no gaps
    assert sorted(p.name for p in out.iterdir()) == names  # no temporary files


@pytest.mark.slow
def test_kill_9_leaves_only_complete_outputs_and_a_rerun_finishes(input_folder,
                                                                    tiny_model_file, tmp_path):
    out = tmp_path / "out"
    proc = _start(input_folder, out, tiny_model_file)
    _wait_for_first_output(proc, out)
    proc.kill()
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    done = _complete_outputs(out)
    assert 1 <= len(done) < N_IMAGES
    # The same command again: the finished outputs are skipped, the others restored.
    rerun = subprocess.run(
        [sys.executable, "-m", "rnan_keras.cli.main", "restore", str(input_folder), "-o",
         str(out), "--model", str(tiny_model_file), "--tile", "none", "-q"],
        check=False, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(done)} skipped" in rerun.stderr
    assert _complete_outputs(out) == [f"img{i:02d}.png" for i in range(N_IMAGES)]
