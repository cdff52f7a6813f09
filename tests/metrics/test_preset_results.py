"""``scripts/preset_results.py`` measures presets and baselines with ``evaluate``'s protocol."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import load_script


@pytest.fixture()
def pr(monkeypatch):
    module = load_script("scripts/preset_results.py")
    monkeypatch.setattr(module, "PLAN", [("sr_x2", "sr_x2_small", ["Set5"], [None])])
    return module


@pytest.fixture()
def root(tmp_path):
    from PIL import Image

    hr = tmp_path / "Set5" / "HR"
    hr.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (24, 28, 3), np.uint8)).save(hr / f"{i}.png")
    return tmp_path


def test_rows_are_evaluate_numbers_and_targets_are_checked(pr, root, tmp_path):
    import rnan_keras
    from rnan_keras.inference.evaluate import evaluate

    out = tmp_path / "r.json"
    assert pr.main(["--data-root", str(root), "--tile", "none", "--out", str(out),
                    "--markdown", str(tmp_path / "r.md")]) == 0
    data = json.loads(out.read_text())
    rows = {r["method"]: r for r in data["rows"]}
    # SR is in the default --ensemble tasks: the preset also gets an RNAN+ (x8) row
    assert list(rows) == ["RNAN sr_x2_small", "RNAN+ sr_x2_small", "bicubic"]
    model = rnan_keras.load_preset("sr_x2_small")
    direct, _ = evaluate(model, "sr_x2", root / "Set5" / "HR", tile=None)
    plus, _ = evaluate(model, "sr_x2", root / "Set5" / "HR", tile=None, ensemble=True)
    assert rows["RNAN sr_x2_small"]["psnr"] == round(direct.mean()["psnr"], 3)
    assert rows["RNAN+ sr_x2_small"]["psnr"] == round(plus.mean()["psnr"], 3)
    assert rows["RNAN+ sr_x2_small"]["psnr"] != rows["RNAN sr_x2_small"]["psnr"]
    assert rows["bicubic"]["psnr"] == round(direct.mean()["baseline_psnr"], 3)
    assert rows["bicubic"]["n_images"] == 3 and rows["bicubic"]["images_note"] == "all"
    targets = {t["method"]: t for t in data["targets"]}
    assert set(targets) == {"RNAN sr_x2_small", "RNAN+ sr_x2_small"}
    for method, target in targets.items():
        margin = rows[method]["psnr"] - rows["bicubic"]["psnr"]
        assert target["margin"] == round(margin, 3)
        assert target["met"] == (margin >= pr.TARGETS["sr_x2"][1][None])
    assert "| sr_x2 | Set5 |  | RNAN+ sr_x2_small |" in (tmp_path / "r.md").read_text()


def test_no_ensemble_rows_when_switched_off(pr, root, tmp_path):
    out = tmp_path / "r.json"
    pr.main(["--data-root", str(root), "--tile", "none", "--ensemble", "--out", str(out)])
    data = json.loads(out.read_text())
    assert [r["method"] for r in data["rows"]] == ["RNAN sr_x2_small", "bicubic"]
    assert [t["method"] for t in data["targets"]] == ["RNAN sr_x2_small"]


def test_a_slow_method_caps_every_method_of_the_set(pr, root, tmp_path):
    out = tmp_path / "r.json"
    pr.main(["--data-root", str(root), "--tile", "none", "--slow-seconds", "0",
             "--slow-cap", "2", "--out", str(out)])
    rows = json.loads(out.read_text())["rows"]
    # the RNAN+ row never sets the cap but is measured on the same first images
    assert [(r["n_images"], r["images_note"]) for r in rows] == [(2, "first 2")] * 3


def test_input_row_is_the_plain_presets_baseline(pr, root, tmp_path, monkeypatch):
    import rnan_keras
    from rnan_keras.inference.evaluate import evaluate

    monkeypatch.setattr(pr, "PLAN", [("car", "car_small", ["Set5"], [10])])
    out = tmp_path / "r.json"
    pr.main(["--data-root", str(root), "--tile", "none", "--out", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert [r["method"] for r in rows] == ["RNAN car_small", "JPEG input"]
    direct, _ = evaluate(rnan_keras.load_preset("car_small"), "car", root / "Set5" / "HR",
                         quality=10, tile=None)
    assert rows[0]["psnr"] == round(direct.mean()["psnr"], 3)
    assert rows[1]["psnr"] == round(direct.mean()["baseline_psnr"], 3) != rows[0]["psnr"]


def test_ensemble_with_fewer_views_is_its_own_checked_row(pr, root, tmp_path):
    import rnan_keras
    from rnan_keras.inference.evaluate import evaluate

    out = tmp_path / "r.json"
    pr.main(["--data-root", str(root), "--tile", "none", "--ensemble", "sr_x2=2",
             "--out", str(out)])
    data = json.loads(out.read_text())
    rows = {r["method"]: r for r in data["rows"]}
    assert list(rows) == ["RNAN sr_x2_small", "RNAN+ (2 views) sr_x2_small", "bicubic"]
    model = rnan_keras.load_preset("sr_x2_small")
    two, _ = evaluate(model, "sr_x2", root / "Set5" / "HR", tile=None, ensemble=2)
    assert rows["RNAN+ (2 views) sr_x2_small"]["psnr"] == round(two.mean()["psnr"], 3)
    assert [t["method"] for t in data["targets"]] == list(rows)[:2]


@pytest.mark.parametrize("bad", ["sr_x2=3", "sr_x2=1", "nope", "sr_x2=x"])
def test_bad_ensemble_items_are_refused(pr, bad):
    with pytest.raises(SystemExit, match="TASK=N"):
        pr.parse_ensemble([bad])
    assert pr.parse_ensemble(["demosaic", "dn_rgb=4"]) == {"demosaic": 8, "dn_rgb": 4}
