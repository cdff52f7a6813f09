"""``rnan eval`` end to end on a 3-image folder: JSON, Markdown and grid, paper protocol."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import keras
import pytest

from rnan_keras.cli import eval as eval_cli
from rnan_keras.data.image_io import read_image, write_image
from rnan_keras.errors import ConfigError


def _run(argv):
    parser = argparse.ArgumentParser()
    eval_cli.register(parser.add_subparsers())
    args = parser.parse_args(["eval", *argv])
    return args.func(args)


@pytest.fixture(scope="module")
def three_images(shared_dir: Path, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("kodak3")
    for name in ("kodim01", "kodim02", "kodim03"):
        image = read_image(shared_dir / f"data/testsets/Kodak24/{name}.png")
        write_image(folder / f"{name}.png", image[200:248, 300:356])
    return folder


def _save(model: keras.Model, path: Path) -> Path:
    model.save(path)
    return path


@pytest.fixture(scope="module")
def identity_rgb(tmp_path_factory) -> Path:
    x = keras.Input(shape=(None, None, 3))
    return _save(keras.Model(x, keras.layers.Identity()(x)),
                 tmp_path_factory.mktemp("m") / "identity.keras")


@pytest.fixture(scope="module")
def tiny_rnan_file(tmp_path_factory) -> Path:
    from rnan_keras import build_model

    keras.utils.set_random_seed(0)
    model = build_model("dn_rgb", n_feats=8, n_resgroups=2)
    return _save(model, tmp_path_factory.mktemp("m") / "tiny_dn_rgb.keras")


def test_eval_identity_model_measures_the_noise(three_images, identity_rgb, tmp_path, capsys):
    out = tmp_path / "report"
    assert _run(["--task", "dn_rgb", "--sigma", "25", "--data", str(three_images),
                 "--model", str(identity_rgb), "--out", str(out), "-q"]) == 0
    result = json.loads((out / "results.json").read_text())
    assert result["n_images"] == 3
    assert [r["name"] for r in result["images"]] == ["kodim01.png", "kodim02.png", "kodim03.png"]
    for r in result["images"]:
        # Identity: the restored image is the quantised noisy input.
        assert r["psnr"] == pytest.approx(r["baseline_psnr"], abs=1e-9)
        # AWGN of sigma 25: 20 log10(255 / 25) = 20.17 dB (clipping raises it a little).
        assert 20.0 < r["psnr"] < 21.5
        assert r["height"] == 48 and r["width"] == 56
    assert result["settings"]["crop_border"] == 0 and not result["settings"]["y_channel"]
    md = (out / "results.md").read_text()
    assert "| kodim02.png | 56x48 |" in md and "**mean**" in md
    assert md in capsys.readouterr().out
    grid = read_image(out / "grid.png")
    assert grid.shape[2] == 3 and grid.shape[0] > 6 * 48


def test_eval_is_reproducible_and_seeded(three_images, identity_rgb, tmp_path):
    def mean_psnr(seed):
        out = tmp_path / f"s{seed}"
        _run(["--task", "dn_rgb", "--sigma", "25", "--data", str(three_images), "--model",
              str(identity_rgb), "--out", str(out), "--seed", str(seed), "-q", "--grid", "0"])
        assert not (out / "grid.png").exists()
        return json.loads((out / "results.json").read_text())["mean"]["psnr"]

    assert mean_psnr(0) == mean_psnr(0)
    assert mean_psnr(0) != mean_psnr(1)


def test_eval_tiny_rnan_end_to_end(three_images, tiny_rnan_file, tmp_path):
    out = tmp_path / "tiny"
    assert _run(["--task", "dn_rgb", "--sigma", "50", "--data", str(three_images),
                 "--model", str(tiny_rnan_file), "--out", str(out), "--tile", "32",
                 "--max-images", "2", "-q"]) == 0
    result = json.loads((out / "results.json").read_text())
    assert result["n_images"] == 2
    for r in result["images"]:
        assert math.isfinite(r["psnr"]) and -1 <= r["ssim"] <= 1
        assert r["psnr"] != r["baseline_psnr"]
    assert result["settings"]["tile"] == 32 and result["settings"]["warmup"] is False


def test_eval_warmup_flag_reaches_evaluate(three_images, tiny_rnan_file, tmp_path, monkeypatch):
    import importlib

    restore_mod = importlib.import_module("rnan_keras.inference.restore")
    calls = []
    real = restore_mod.restore_array
    monkeypatch.setattr(restore_mod, "restore_array",
                        lambda *a, **k: calls.append(a[1].shape) or real(*a, **k))
    results = {}
    for flag in ([], ["--warmup"]):
        calls.clear()
        out = tmp_path / f"w{len(flag)}"
        assert _run(["--task", "dn_rgb", "--sigma", "50", "--data", str(three_images),
                     "--model", str(tiny_rnan_file), "--out", str(out), "--grid", "0",
                     "--max-images", "2", "-q", *flag]) == 0
        results[bool(flag)] = (json.loads((out / "results.json").read_text()), len(calls))
    (cold, n_cold), (warm, n_warm) = results[False], results[True]
    assert (n_cold, n_warm) == (2, 3)  # one extra, untimed restoration of image 0
    assert warm["settings"]["warmup"] is True
    assert [r["psnr"] for r in warm["images"]] == [r["psnr"] for r in cold["images"]]


def test_eval_sr_uses_y_channel_and_crop(three_images, tmp_path):
    x = keras.Input(shape=(None, None, 3))
    up = keras.layers.UpSampling2D(2, interpolation="nearest")(x)
    model = _save(keras.Model(x, up), tmp_path / "nearest_x2.keras")
    out = tmp_path / "sr"
    assert _run(["--task", "sr_x2", "--data", str(three_images), "--model", str(model),
                 "--out", str(out), "-q"]) == 0
    result = json.loads((out / "results.json").read_text())
    assert result["settings"]["crop_border"] == 2 and result["settings"]["y_channel"]
    for r in result["images"]:
        assert r["baseline_psnr"] > r["psnr"]  # bicubic beats nearest-neighbour
        assert 15 < r["psnr"] < 40


def test_eval_argument_errors(three_images, identity_rgb, tiny_rnan_file, tmp_path):
    with pytest.raises(ConfigError, match="sigma"):
        _run(["--task", "dn_rgb", "--data", str(three_images), "--model", str(identity_rgb)])
    with pytest.raises(ConfigError, match="quality"):
        _run(["--task", "car", "--data", str(three_images), "--model", str(identity_rgb)])
    with pytest.raises(ConfigError, match="not a folder"):
        _run(["--task", "dn_rgb", "--sigma", "5", "--data", str(tmp_path / "nope"),
              "--model", str(identity_rgb)])
    with pytest.raises(ConfigError, match="dn_rgb"):
        _run(["--task", "demosaic", "--data", str(three_images), "--model",
              str(tiny_rnan_file), "--out", str(tmp_path / "x")])


def test_eval_report_files_are_complete_json(three_images, identity_rgb, tmp_path):
    out = tmp_path / "r"
    _run(["--task", "dn_rgb", "--sigma", "0.0", "--data", str(three_images), "--model",
          str(identity_rgb), "--out", str(out), "-q", "--grid", "1"])
    text = (out / "results.json").read_text()
    data = json.loads(text)  # strict JSON: infinite PSNR (no noise) is written as null
    assert "Infinity" not in text
    assert data["images"][0]["psnr"] is None
    assert read_image(out / "grid.png").shape[0] < 600  # one image (two rows), not three


@pytest.mark.parametrize(
    "task,preset,level",
    [("dn_rgb", "dn_rgb_small", ["--sigma", "25"]), ("car", "car_small", ["--quality", "10"])],
)
def test_eval_preset_with_degradation_level(three_images, tmp_path, capsys, task, preset, level):
    # The README's command: the level degrades the clean images, never the model config.
    out = tmp_path / "report"
    assert _run(["--task", task, *level, "--data", str(three_images), "--preset", preset,
                 "--max-images", "1", "--grid", "0", "--out", str(out), "-q"]) == 0
    result = json.loads((out / "results.json").read_text())
    assert result["settings"][level[0][2:]] == float(level[1])
    assert result["mean"]["psnr"] > result["mean"]["baseline_psnr"]
    assert "warning" not in capsys.readouterr().err


def test_eval_preset_with_level_of_another_task_is_refused(three_images, tmp_path):
    with pytest.raises(ConfigError, match="quality applies to JPEG"):
        _run(["--task", "dn_rgb", "--sigma", "25", "--quality", "10", "--data",
              str(three_images), "--preset", "dn_rgb_small", "--out", str(tmp_path / "r")])
    assert not (tmp_path / "r").exists()


def test_eval_ensemble_views_reach_evaluate(three_images, tiny_rnan_file, tmp_path):
    from rnan_keras.inference.evaluate import evaluate

    out = tmp_path / "v2"
    assert _run(["--task", "dn_rgb", "--sigma", "50", "--data", str(three_images),
                 "--model", str(tiny_rnan_file), "--out", str(out), "--grid", "0",
                 "--tile", "none", "--max-images", "1", "-q", "--ensemble-views", "2"]) == 0
    result = json.loads((out / "results.json").read_text())
    assert result["settings"]["ensemble"] == 2
    model = keras.models.load_model(tiny_rnan_file, compile=False)
    direct = {n: evaluate(model, "dn_rgb", three_images, sigma=50, tile="none",
                          max_images=1, ensemble=n)[0].images[0].psnr for n in (1, 2)}
    assert result["images"][0]["psnr"] == pytest.approx(direct[2], abs=1e-9)
    assert direct[2] != direct[1]
