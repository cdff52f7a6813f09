"""Sanity of the paper's numbers data file (catches transcription slips)."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from pathlib import Path

import rnan_keras.metrics

PAPER = Path(rnan_keras.metrics.__file__).with_name("paper_results.json")


def _rows():
    return json.loads(PAPER.read_text())["results"]


def test_rows_are_well_formed():
    data = json.loads(PAPER.read_text())
    assert "ICLR 2019" in data["paper"] and data["provenance"]
    level_key = {2: "sigma", 3: "sigma", 5: "quality", 6: "scale"}
    for row in _rows():
        assert row["table"] in (2, 3, 4, 5, 6)
        assert 20.0 < row["psnr"] < 45.0
        assert row["ssim"] is None or 0.5 < row["ssim"] < 1.0
        assert row["source"]
        if row["table"] in level_key:
            assert level_key[row["table"]] in row
        if row["table"] == 6:
            assert row["task"] == f"sr_x{row['scale']}"


def test_monotone_in_difficulty():
    car = defaultdict(dict)
    sr = defaultdict(dict)
    for row in _rows():
        if row["task"] == "car":
            car[row["dataset"]][row["quality"]] = (row["psnr"], row["ssim"])
        if row["task"].startswith("sr"):
            sr[row["dataset"]][row["scale"]] = (row["psnr"], row["ssim"])
    for per_q in car.values():  # higher JPEG quality -> higher PSNR and SSIM
        values = [per_q[q] for q in sorted(per_q)]
        assert all(a[0] < b[0] and a[1] < b[1] for a, b in itertools.pairwise(values))
    for per_s in sr.values():  # x2 is easier than x4
        assert per_s[2][0] > per_s[4][0] and per_s[2][1] > per_s[4][1]
