"""scripts/paper_tables.py on a tiny model and one tiny image per set (tmp data root)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import rnan_keras
from rnan_keras.data.image_io import write_image
from rnan_keras.inference.evaluate import evaluate
from rnan_keras.metrics import paper_results as pr
from tests.conftest import load_script


@pytest.fixture(scope="module")
def script():
    return load_script("scripts/paper_tables.py")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny dn_rgb model file and a data root with one 20x24 image in Kodak24, Urban100."""
    root = tmp_path_factory.mktemp("paper_tables")
    y, x = np.mgrid[0:20, 0:24]
    image = np.stack([8 * x + 40, 6 * y + 60, 4 * (x + y) + 30], axis=-1).astype(np.uint8)
    for folder in ("Kodak24", "Urban100"):
        write_image(root / "testsets" / folder / "img.png", image)
    model = rnan_keras.build_model("dn_rgb", n_feats=8, n_resgroups=2)
    path = root / "tiny_dn_rgb.keras"
    model.save(path)
    return root, path


def test_quality_and_cost_tables_with_a_tiny_model(script, setup, tmp_path, capsys):
    root, model_path = setup
    out = tmp_path / "t.json"
    assert script.main([
        "--table", "2", "3", "7", "--levels", "50", "--datasets", "Kodak24", "Urban100",
        "--model", str(model_path), "--max-images", "1", "--n-feats", "8",
        "--data-root", str(root / "testsets"), "--tile", "none", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())

    # Table 2: the paper's row beside ours, for the chosen sets and level only
    rows = report["tables"]["2"]
    assert [(r["dataset"], r["level"]) for r in rows] == [("Kodak24", 50), ("Urban100", 50)]
    kodak = rows[0]
    assert kodak["paper"]["RNAN (ours)"] == {"psnr": 29.58}
    assert kodak["paper"]["CBM3D"] == {"psnr": 28.63}
    assert kodak["ours"]["images"] == 1 and kodak["ours"]["model"] == "tiny_dn_rgb"
    # ours is exactly rnan_keras.inference.evaluate with the table's protocol
    direct, _ = evaluate(rnan_keras.models.resolve.resolve_model(str(model_path)), "dn_rgb",
                         root / "testsets" / "Kodak24", sigma=50, seed=0, tile="none",
                         max_images=1, progress=False)
    assert kodak["ours"]["psnr"] == direct.mean()["psnr"]
    assert kodak["ours"]["reference_psnr"] == direct.mean()["baseline_psnr"]
    assert math.isclose(kodak["ours_minus_rnan_psnr"], kodak["ours"]["psnr"] - 29.58)
    assert "| Kodak24 | 50 | 28.63 |" in printed and "29.58" in printed

    # Table 3 is gray: the colour model is not run there, and the line says why
    gray = report["tables"]["3"]
    assert all(r["ours"] is None for r in gray)
    assert "tiny_dn_rgb.keras is a dn_rgb model, not dn_gray" in printed

    # Table 7: paper numbers, our counts of both RNAN columns at n_feats=8, and our run on
    # Urban100 sigma 50 (shared with Table 2's evaluation)
    t7 = report["tables"]["7"]
    by_method = {r["paper"]["method"]: r for r in t7 if "paper" in r}
    assert by_method["RNAN (1LB+1NLB)"]["paper"]["params_k"] == 1494
    for name, options in (("RNAN (1LB+1NLB)", {"n_resgroups": 2, "non_local_groups": 1}),
                          ("RNAN (8LBs+2NLBs)", {"n_resgroups": 10})):
        assert by_method[name]["build_model"] == options
        expected = rnan_keras.build_model("dn_rgb", n_feats=8, **options).count_params()
        assert by_method[name]["our_params"] == expected
    assert by_method["DnCNN"]["our_params"] is None
    ours = next(r for r in t7 if "ours" in r)
    assert ours["ours"] == rows[1]["ours"]  # same evaluation as Table 2's Urban100 sigma 50
    assert ours["our_params"] == rnan_keras.build_model("dn_rgb", n_feats=8,
                                                        n_resgroups=2).count_params()
    assert "RNAN (8LBs+2NLBs) | 7,409 K | 29.15 | 6.5 (PyTorch)" in printed


def test_list_prints_every_table_without_models(script, capsys, tmp_path):
    out = tmp_path / "list.json"
    assert script.main(["--list", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert sorted(report["tables"], key=int) == [str(n) for n in range(1, 9)]
    for number in range(1, 9):
        assert f"Table {number}" in printed
    # every main-table RNAN number is printed; Table 8's inferred ones carry a '?'
    for number in (2, 3, 4, 5, 6):
        for row in pr.rows(number, method=pr.table(number)["rnan_method"]):
            assert f"{row['psnr']:.2f}" in printed
    assert "| Kodak24 | 10 | 36.81 | 37.16? |" in printed
    assert all(r["ours"] is None for r in report["tables"]["6"])
    # Table 1 lists every case's build_model options (counts need no --list)
    cases = report["tables"]["1"]
    assert [r["build_model"] for r in cases][4] == {"n_resgroups": 2, "non_local_groups": 1}
    assert all(r["our_params"] is None for r in cases)
