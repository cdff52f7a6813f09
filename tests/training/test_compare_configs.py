"""``scripts/compare_configs.py`` trains each variant on the same split and records curves."""

from __future__ import annotations

import json

import numpy as np

from tests.conftest import load_script


def test_two_variants_same_split_their_own_curves(tmp_path, monkeypatch):
    from PIL import Image

    module = load_script("scripts/compare_configs.py")
    src = tmp_path / "train" / "CBSD432"
    src.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(4):  # smooth images, where bicubic up-scaling is good
        small = Image.fromarray(rng.integers(0, 256, (8, 8, 3), np.uint8))
        small.resize((100, 100), Image.Resampling.BICUBIC).save(src / f"{i}.png")
    out = tmp_path / "cmp.json"
    module.main(["sr_x4_small", "{}", '{"sr_bicubic_skip": false}', "--steps", "2",
                 "--batch", "2", "--val-images", "1", "--train-root", str(tmp_path / "train"),
                 "--work-dir", str(tmp_path / "work"), "--out", str(out)])
    record = json.loads(out.read_text())
    a, b = record["variants"]
    assert a["overrides"] == {} and b["overrides"] == {"sr_bicubic_skip": False}
    assert a["parameters"] == b["parameters"]  # the skip has no weights
    assert [s for s, _ in a["val_psnr_curve"]] == [s for s, _ in b["val_psnr_curve"]] == [1, 2]
    # the preset's bicubic skip starts near bicubic; without it the output starts near 0
    assert a["val_psnr_curve"][0][1] > b["val_psnr_curve"][0][1] + 5
