"""``rnan degrade`` writes the degraded image the library functions produce."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
from PIL import Image

from rnan_keras.cli import degrade as degrade_cli
from rnan_keras.data.degradations import degrade
from rnan_keras.errors import ConfigError


def _run(argv):
    parser = argparse.ArgumentParser()
    degrade_cli.register(parser.add_subparsers())
    args = parser.parse_args(["degrade", *argv])
    return args.func(args)


@pytest.fixture()
def clean_png(tmp_path):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (25, 31, 3), dtype=np.uint8)
    path = tmp_path / "in.png"
    Image.fromarray(arr).save(path)
    return path, arr


def test_dn_rgb_npy_and_png(clean_png, tmp_path):
    path, arr = clean_png
    assert _run(["--task", "dn_rgb", "--sigma", "50", str(path), str(tmp_path / "o.npy")]) == 0
    got = np.load(tmp_path / "o.npy")
    want = degrade("dn_rgb", arr[None].astype(np.float32), sigma=50.0, seed=0)[0].numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)
    _run(["--task", "dn_rgb", "--sigma", "50", str(path), str(tmp_path / "o.png")])
    with Image.open(tmp_path / "o.png") as image:
        png = np.asarray(image)
    np.testing.assert_array_equal(png, np.floor(np.clip(want, 0, 255) + 0.5))
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_sr_crops_and_writes_clean(clean_png, tmp_path):
    path, _ = clean_png
    _run(["--task", "sr_x4", str(path), str(tmp_path / "lr.png"),
          "--clean-out", str(tmp_path / "hr.png")])
    with Image.open(tmp_path / "lr.png") as lr, Image.open(tmp_path / "hr.png") as hr:
        assert lr.size == (7, 6) and hr.size == (28, 24)


def test_car_writes_gray(clean_png, tmp_path):
    path, _ = clean_png
    _run(["--task", "car", "--quality", "10", str(path), str(tmp_path / "y.png")])
    with Image.open(tmp_path / "y.png") as y:
        assert y.mode == "L"


def test_missing_sigma_and_bad_format(clean_png, tmp_path):
    path, _ = clean_png
    with pytest.raises(ConfigError, match="sigma"):
        _run(["--task", "dn_gray", str(path), str(tmp_path / "o.png")])
    with pytest.raises(ConfigError, match="format"):
        _run(["--task", "demosaic", str(path), str(tmp_path / "o.jpg")])
