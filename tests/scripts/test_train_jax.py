"""``scripts/train_jax.py``: a preset's state trained on on JAX without TensorFlow, resumed on
TensorFlow.

The script runs in a subprocess with ``KERAS_BACKEND=jax`` and TensorFlow made unimportable
(as on a GPU machine that has JAX but no TensorFlow); its run folder is then read back here,
on TensorFlow, by the trainer's own checkpoint code.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from rnan_keras import build_model
from rnan_keras.data.degradations import prepare_clean
from rnan_keras.data.mosaic import bayer_mosaic
from rnan_keras.inference.evaluate import image_psnr
from rnan_keras.training.checkpoint import CheckpointManager
from rnan_keras.training.config import CSV_FIELDS, config_from_dict, save_config
from rnan_keras.training.schedules import make_optimizer
from tests.conftest import load_script

jax = pytest.importorskip("jax")

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "train_jax.py"
BLOCK_TF = """import importlib.abc, sys
class _NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ModuleNotFoundError("No module named 'tensorflow' (test)", name="tensorflow")
sys.meta_path.insert(0, _NoTensorFlow())
"""
MODEL = {"n_feats": 8, "n_resgroups": 2}


def _script():
    """The script as a module; importing it leaves KERAS_BACKEND alone (subprocesses that
    later tests start inherit the environment)."""
    before = os.environ.get("KERAS_BACKEND")
    module = load_script("scripts/train_jax.py")
    assert os.environ.get("KERAS_BACKEND") == before
    return module


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny dn_rgb state (TensorFlow), trained on by the script on JAX, widened to 12."""
    tmp = tmp_path_factory.mktemp("train_jax")
    rng = np.random.default_rng(0)
    train, val = tmp / "train", tmp / "val"
    for folder, n, size in ((train, 4, 64), (val, 2, 32)):
        folder.mkdir()
        for i in range(n):
            img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            Image.fromarray(img).save(folder / f"{i}.png")
    state = tmp / "state"
    cfg = config_from_dict({"task": "dn_rgb", "model": MODEL, "sigma": [0, 50],
                            "train_dir": str(train), "val_dir": str(val), "out": str(state)})
    tf.random.set_seed(0)
    model = build_model("dn_rgb", **MODEL)
    rng2 = np.random.default_rng(1)  # a start point that is not the identity
    model.set_weights([w + rng2.normal(0, 0.01, w.shape).astype("float32")
                       for w in model.get_weights()])
    opt = make_optimizer(cfg)
    opt.build(model.trainable_variables)
    CheckpointManager(state / "checkpoints").save(model, opt, {"step": 7})
    save_config(cfg, state / "config.json")
    site = tmp / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCK_TF)
    out, tar = tmp / "out", tmp / "out.tar"
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(site),
           "JAX_PLATFORMS": "cpu", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--init-state", str(state), "--train-dir", str(train),
         "--val-dir", str(val), "--out", str(out), "--tar", str(tar), "--minutes", "0.4",
         "--batch-size", "2", "--patch-size", "24", "--probe-steps", "3", "--halvings", "1",
         "--n-feats", "12"],
        check=False, env=env, capture_output=True, text=True, timeout=600)
    return {"env": env, "proc": proc, "out": out, "tar": tar, "state": state, "start": model, "val": val}


def test_runs_without_tensorflow(run):
    blocked = subprocess.run([sys.executable, "-c", "import tensorflow"], check=False,
                             env=run["env"], capture_output=True, text=True, timeout=120)
    assert blocked.returncode != 0 and "No module named 'tensorflow' (test)" in blocked.stderr
    proc = run["proc"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "cpu" in proc.stdout.lower()
    assert "tensorflow" not in proc.stderr.lower()


def test_inference_protocol_imports_without_tensorflow(tmp_path):
    """The evaluation protocol (numpy) imports where TensorFlow is missing; ``restore``
    then fails with one line that says why."""
    (tmp_path / "sitecustomize.py").write_text(BLOCK_TF)
    code = ("import numpy as np\n"
            "from rnan_keras.inference.evaluate import image_psnr\n"
            "c = np.zeros((8, 8, 3)); r = c + 1.4\n"  # quantised to 1: PSNR = 20 log10(255)
            "print(round(image_psnr(r, c, 'dn_rgb'), 4))\n"
            "from rnan_keras.inference import restore\n")
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": f"{tmp_path}:{ROOT}",
           "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", code], check=False, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.stdout.split() == [f"{20 * np.log10(255.0):.4f}"], proc.stderr
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1] == (
        "ImportError: rnan_keras.inference.restore needs TensorFlow, which is not installed "
        "(pip install rnan_keras, not only the jax extra)")


def test_state_resumes_on_tensorflow(run):
    out = run["out"]
    cfg = config_from_dict(json.loads((out / "config.json").read_text()))
    assert cfg.model["n_feats"] == 12 and cfg.batch_size == 2 and cfg.patch_size == 24
    model = build_model(cfg.task, **cfg.model)
    opt = make_optimizer(cfg)
    opt.build(model.trainable_variables)
    ckpt = CheckpointManager(out / "checkpoints").restore_latest(model, opt)
    summary = json.loads((out / "summary.json").read_text())
    assert ckpt is not None and ckpt.step == summary["steps"] >= 1
    assert int(opt.iterations.numpy()) == ckpt.step  # Adam state came back too
    moments = [v.numpy() for v in opt.variables[1:]]
    assert any(np.any(m) for m in moments)
    rows = (out / "logs" / "train.csv").read_text().splitlines()
    assert rows[0].split(",") == list(CSV_FIELDS) and len(rows) >= 2
    sessions = json.loads((out / "sessions.json").read_text())
    assert sessions[-1]["to_step"] == ckpt.step and "JAX" in sessions[-1]["device"]
    with tarfile.open(run["tar"]) as t:
        names = t.getnames()
    assert "out/config.json" in names and any(n.startswith("out/checkpoints/ckpt-")
                                              for n in names)


def test_widened_start_computes_the_state_function(run):
    """The start PSNR the script measured on JAX (widened 8 -> 12 features) equals the
    TensorFlow start model's on the same held-out pairs."""
    m = re.search(r"held-out PSNR at the start: ([\d.]+) dB", run["proc"].stdout)
    assert m, run["proc"].stdout
    script = _script()
    pairs = script.val_pairs("dn_rgb", [0, 50], run["val"], 3)
    want = np.mean([image_psnr(run["start"](d).numpy()[0], c[0], "dn_rgb") for d, c in pairs])
    assert abs(float(m.group(1)) - want) <= 0.0005 + 1e-3  # printed to 3 decimals


def test_images_load_as_the_pipeline_prepares_them(tmp_path):
    """Colour -> gray is Matlab rgb2gray rounded (``prepare_clean``), gray -> colour repeats."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (17, 23, 3), dtype=np.uint8)
    gray = rng.integers(0, 256, (9, 11), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    Image.fromarray(gray).save(tmp_path / "b.png")
    script = _script()
    for task, channels in (("dn_gray", 1), ("dn_rgb", 3)):
        got = script.load_images(tmp_path, channels)
        want = [prepare_clean(task, img).numpy() for img in (rgb, gray[..., None])]
        assert [g.dtype for g in got] == [np.uint8, np.uint8]
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)


def test_degradations_match_the_pipeline():
    """Mosaic: the pipeline's GRBG mosaic exactly. Noise: per-patch sigma within the range."""
    script = _script()
    rng = np.random.default_rng(3)
    clean = rng.uniform(0, 255, (4, 24, 24, 3)).astype("float32")
    mosaic = script.make_degrade("demosaic", None, 24)(jax.numpy.asarray(clean), None)
    np.testing.assert_array_equal(np.asarray(mosaic), bayer_mosaic(clean).numpy())
    clean = np.full((64, 48, 48, 3), 128.0, np.float32)
    noisy = script.make_degrade("dn_rgb", [10, 30], 48)(clean, jax.random.PRNGKey(0))
    sd = np.asarray(noisy - clean).reshape(64, -1).std(axis=1)
    n = 48 * 48 * 3  # samples per patch: the std estimate is within 4 standard errors
    assert np.all(sd > 10 * (1 - 4 / np.sqrt(2 * n)))
    assert np.all(sd < 30 * (1 + 4 / np.sqrt(2 * n)))
    assert sd.max() - sd.min() > 10  # drawn per patch, not once per batch
