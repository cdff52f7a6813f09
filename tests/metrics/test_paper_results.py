"""The paper's Tables 1-8 in ``paper_results.json``: schema, every number checked against
the paper's extracted text (re-read here), internal consistency, and the accessors."""

from __future__ import annotations

import itertools
import json
import re

import pytest

from rnan_keras.metrics import paper_results as pr
from rnan_keras.tasks import TASKS

PAPER_TEXT = "paper/000_5ac1191d2a413611.txt"
NUMBER = re.compile(r"\d+\.\d+|N/A")


@pytest.fixture(scope="module")
def text(shared_dir) -> str:
    path = shared_dir / PAPER_TEXT
    if not path.is_file():
        pytest.skip(f"paper text not found at {path}")
    return path.read_text()


@pytest.fixture(scope="module")
def lines(text) -> list[str]:
    return text.splitlines()


def _fmt(value, metric: str = "psnr") -> str:
    if value is None:
        return "N/A"
    return f"{value:.4f}" if metric == "ssim" else f"{value:.2f}"


def _after(lines: list[str], start: str) -> int:
    return next(i for i, line in enumerate(lines) if line.startswith(start))


def _line(lines: list[str], first_cells: tuple[str, ...], start: int) -> list[str]:
    """Numbers (and N/A) of the first line at/after ``start`` whose leading cells match."""
    for line in lines[start:]:
        cells = line.split("\t")
        if tuple(c.strip() for c in cells[: len(first_cells)]) == first_cells:
            return NUMBER.findall("\t".join(cells[len(first_cells):]))
    raise AssertionError(f"no line starting with {first_cells}")


# ------------------------------------------------------------------------------- schema


def test_file_has_every_table_and_provenance():
    data = pr.load()
    assert data["schema_version"] == 2
    assert "ICLR 2019" in data["paper"]
    assert {"source", "method", "transcribed"} <= set(data["provenance"])
    assert sorted(data["tables"], key=int) == [str(n) for n in range(1, 9)]
    with pytest.raises(KeyError, match="no Table 9"):
        pr.table(9)


@pytest.mark.parametrize("number", range(1, 9))
def test_sections_are_well_formed(number):
    entry = pr.table(number)
    assert entry["caption"] and entry["kind"] in ("ablation", "quality", "cost")
    for part, section in pr.sections(number):
        assert (part is None) == (number != 8)
        p = section["protocol"]
        levels, datasets = p["levels"], p["datasets"]
        assert {"level", "levels", "datasets", "metrics", "measured_on", "crop_border"} <= set(p)
        for level in levels or [None]:
            assert pr.section_task(section, level) in TASKS
        assert set(p.get("data_dirs", {})) == set(datasets)
        assert (p["level"] is None) == (not levels)
        for row in section["rows"]:
            for metric, (low, high) in {"psnr": (7.0, 45.0), "ssim": (0.05, 1.0)}.items():
                value = row.get(metric)
                assert value is None or low < value < high, row
            if entry["kind"] == "quality":
                assert row["method"] in section["methods"]
                assert row["dataset"] in datasets and row["level"] in (levels or [None])
                assert set(p["metrics"]) <= set(row), row
            assert row.get("placement") in (None, "inferred")
            if row.get("placement"):
                assert row["confidence"] in ("high", "medium", "low") and row["note"]
        if entry["kind"] == "quality":
            keys = [(r["method"], r["dataset"], r["level"]) for r in section["rows"]]
            assert len(keys) == len(set(keys))  # no cell twice
            assert section["rnan_method"] in section["methods"]


def test_captions_are_paraphrased(text):
    for number in range(1, 9):
        for _, section in pr.sections(number):
            caption = section["caption"]
            for a, b in itertools.pairwise(caption.split(". ")):
                assert f"{a}. {b}" not in text
            # no run of 6 words copied from the paper's text
            words = caption.split()
            for i in range(len(words) - 5):
                assert " ".join(words[i: i + 6]) not in text, caption


def test_number_counts_per_table():
    def count(number):
        n = 0
        for _, section in pr.sections(number):
            for row in section["rows"]:
                n += sum(row.get(k) is not None
                         for k in ("psnr", "ssim", "params_k", "time_s"))
        return n

    # 1: 8 PSNR; 2, 3: 8 methods x 12 minus 6 N/A; 4: 3 x 8; 5: 6 methods x 16 minus 4 N/A;
    # 6: 7 x 2 x 10; 7: 5 x (parameters, PSNR, time); 8: 24 + 24 + 2 + 6 + 24.
    assert {n: count(n) for n in range(1, 9)} == {
        1: 8, 2: 90, 3: 90, 4: 24, 5: 92, 6: 140, 7: 15, 8: 80}


# --------------------------------------------------- Tables 1-7: number by number vs text


def test_table1_matches_text(lines):
    start = _after(lines, "Table 1:")
    rows = pr.table(1)["rows"]
    assert [_fmt(r["psnr"]) for r in rows] == _line(lines, ("PSNR (dB)",), start)
    for label, key in (("RAB Number", "rab"), ("RNAB Number", "rnab")):
        cells = next(l for l in lines[start:] if l.startswith(label)).split("\t")[1:]
        assert [str(r[key]) for r in rows] == cells
    for label, key in (("Mask Branch", "mask_branch"), ("Non-local Block", "non_local_block")):
        cells = next(l for l in lines[start:] if l.startswith(label)).split("\t")[1:]
        ticks = [re.sub(r"</?b>", "", c).strip() not in ("X", "\u00d7") for c in cells]
        assert [r[key] for r in rows] == ticks


@pytest.mark.parametrize("number", [2, 3, 4, 6])
def test_method_rows_match_text(lines, number):
    """Each method's printed line, left to right, is the JSON's numbers in column order."""
    entry = pr.table(number)
    p = entry["protocol"]
    start = _after(lines, f"Table {number}:")
    levels = p["levels"] or [None]
    for method in entry["methods"]:
        if number == 6:  # rows are method x scale, columns dataset x (PSNR, SSIM)
            for scale in levels:
                printed = _line(lines, (method, f"\u00d7{scale}"), start)
                printed = [re.sub(r"</?u>", "", v) for v in printed]
                ours = [_fmt(pr.paper_number(6, d, scale, method, m), m)
                        for d in p["datasets"] for m in p["metrics"]]
                assert ours == printed, (method, scale)
            continue
        printed = _line(lines, (method,), start)
        ours = [_fmt(pr.paper_number(number, d, level, method, m), m)
                for d in p["datasets"] for level in levels for m in p["metrics"]]
        assert ours == printed, method


def test_table5_matches_text(lines):
    entry = pr.table(5)
    start = _after(lines, "Dataset\tq\tPSNR SSIM")
    for i, (dataset, q) in enumerate(itertools.product(["LIVE1", "Classic5"], [10, 20, 30, 40])):
        line = lines[start + 1 + i]
        assert line.split("\t")[1] == str(q)
        printed = NUMBER.findall("\t".join(line.split("\t")[2:]))
        ours = [_fmt(pr.paper_number(5, dataset, q, method, m), m)
                for method in entry["methods"] for m in ("psnr", "ssim")]
        # N/A is printed once per missing PSNR/SSIM pair's cell
        assert ours == printed, (dataset, q)


def test_table7_matches_text(lines):
    rows = pr.table(7)["rows"]
    start = _after(lines, "Table 7:")

    def cells(label):
        return next(l for l in lines[start:] if l.startswith(label + "\t")).split("\t")[1:]

    assert [r["method"] + ("*" if r["channel_wise"] else "") for r in rows] == [
        c.replace("\\*", "*") for c in cells("Methods")]
    assert [r["params_as_printed"] for r in rows] == cells("Parameter Number")
    assert [int(re.sub(r"\D", "", r["params_as_printed"])) for r in rows] == [
        r["params_k"] for r in rows]
    assert [_fmt(r["psnr"]) for r in rows] == cells("PSNR (dB)")
    assert [f"{r['time_s']} ({r['platform']})" for r in rows] == cells("Time (s) (Platform)")


# ------------------------------------------------------------ Table 8: scrambled text


@pytest.fixture(scope="module")
def table8(text) -> str:
    start = text.index("Task 1: Color image denoising")
    return text[start: text.index("Table 8:", start)]


def test_table8_every_number_is_in_the_text(table8):
    for part, section in pr.sections(8):
        for row in section["rows"]:
            shown = row.get("extracted_as", _fmt(row["psnr"]))
            assert shown in table8, (part, row)


@pytest.mark.parametrize("part,first,last", [
    ("1", "BSD400 RNAN", "Task 2"),
    ("2", "BSD400 RNAN", "q denotes"),
    ("5", "SR291 RNAN", None),
])
def test_table8_rnan_rows_hold_exactly_the_printed_numbers(table8, part, first, last):
    """Scrambled order, but the multiset of the RNAN row's numbers is the printed one."""
    start = table8.index(first, table8.index(f"Task {part}:"))
    segment = table8[start: table8.index(last, start) if last else None]
    section = dict(pr.sections(8))[part]
    ours = sorted(_fmt(r["psnr"]) for r in section["rows"] if r["method"] == "RNAN")
    assert ours == sorted(NUMBER.findall(segment))


def test_table8_part4_and_part3_numbers(table8):
    car = dict(pr.sections(8))["4"]["rows"]
    assert sorted(_fmt(r["psnr"]) for r in car) == sorted(
        ["31.59", "33.96", "31.63", "31.87", "34.32", "31.99"])
    demosaic = dict(pr.sections(8))["3"]["rows"]
    assert [r["psnr"] for r in demosaic] == [42.86, 42.61]
    # placements by reasoning are marked; Table 8's SR part reads in order
    assert all(r.get("placement") == "inferred" for r in car + demosaic)


# ------------------------------------------------------------------- consistency


def test_levels_order_psnr():
    for number in (2, 3, 5, 6, 8):
        for _, section in pr.sections(number):
            p = section["protocol"]
            sign = 1 if p["level"] == "quality" else -1  # higher q easier; higher sigma/scale not
            for method, dataset in itertools.product(section["methods"], p["datasets"]):
                values = [pr.paper_number(number, dataset, lv, method, task=pr.section_task(
                    section, lv)) for lv in p["levels"]]
                values = [v for v in values if v is not None]
                assert all(sign * (b - a) > 0 for a, b in itertools.pairwise(values)), (
                    number, method, dataset, values)


def test_rnan_is_best_in_denoising_tables_and_table8():
    for number in (2, 3, 8):
        for _, section in pr.sections(number):
            p = section["protocol"]
            for dataset, level in itertools.product(p["datasets"], p["levels"] or [None]):
                task = pr.section_task(section, level)
                rnan = pr.paper_number(number, dataset, level, task=task)
                others = [r["psnr"] for r in pr.rows(number, task=task, dataset=dataset,
                                                     level=level)
                          if r["method"] != section["rnan_method"] and r["psnr"] is not None]
                if rnan is not None and others:
                    assert rnan > max(others), (number, dataset, level)


def test_cross_table_facts():
    # Table 7's other methods are Table 2's Urban100 sigma 50 numbers
    for method in ("RED", "DnCNN", "MemNet"):
        row = next(pr.rows(7, method=method))
        assert row["psnr"] == pr.paper_number(2, "Urban100", 50, method)
    # Table 1's full model (case 8) is Table 2's colour RNAN on Urban100 sigma 30
    assert pr.table(1)["rows"][7]["psnr"] == pr.paper_number(2, "Urban100", 30) == 31.50
    # Table 8's FFDNet rows are Tables 2 and 3's
    for task, main in (("dn_rgb", 2), ("dn_gray", 3)):
        for row in pr.rows(8, task=task, method="FFDNet"):
            assert row["psnr"] == pr.paper_number(main, row["dataset"], row["level"], "FFDNet")


# --------------------------------------------------------------------- accessors


def test_paper_number_and_rnan_number():
    assert pr.paper_number(2, "Kodak24", 50) == 29.58
    assert pr.paper_number(3, "BSD68", 70) == 25.18
    assert pr.paper_number(4, "McMaster", None, "Mosaiced", "ssim") == 0.1674
    assert pr.paper_number(5, "Classic5", 40, "TNRD") is None  # N/A
    assert pr.paper_number(6, "Manga109", 4, "RNAN+ (ours)") == 31.37
    assert pr.paper_number(8, "Set14", 3, task="sr_x3") == 30.22
    assert pr.paper_number(8, "Set14", 3, "MemNet", task="sr_x3") == 30.00
    assert pr.rnan_number("dn_rgb", "CBSD68", 50.0) == 28.27  # folder name, float sigma
    assert pr.rnan_number("dn_gray", "BSD68", 30) == 28.61
    assert pr.rnan_number("demosaic", "McMaster") == 39.71
    assert pr.rnan_number("car", "LIVE1", 10, "ssim") == 0.8239
    assert pr.rnan_number("sr_x2", "Set5") == 38.17
    assert pr.rnan_number("sr_x4", "Set5", metric="ssim") == 0.8982
    assert pr.rnan_number("sr_x3", "Set5") is None  # Table 6 has no x3
    assert pr.rnan_number("dn_gray", "Set12", 25) is None
    with pytest.raises(KeyError):
        pr.rnan_number("deblur", "Set5")


def test_build_options_of_table1_and_table7():
    cases = {r["case"]: pr.build_options(r) for r in pr.table(1)["rows"]}
    assert cases == {
        1: {"n_resgroups": 7, "use_mask": False},
        2: {"n_resgroups": 7, "use_non_local": False},
        3: {"n_resgroups": 7, "use_local_mask": False},
        4: {"n_resgroups": 7},
        5: {"n_resgroups": 2, "non_local_groups": 1},
        6: {"n_resgroups": 4},
        7: {"n_resgroups": 6, "non_local_groups": 1},
        8: {"n_resgroups": 10},
    }
    rnan = {r["method"]: pr.build_options(r) for r in pr.table(7)["rows"]
            if r["method"].startswith("RNAN")}
    assert rnan == {"RNAN (1LB+1NLB)": {"n_resgroups": 2, "non_local_groups": 1},
                    "RNAN (8LBs+2NLBs)": {"n_resgroups": 10}}
    with pytest.raises(ValueError):
        pr.build_options(next(pr.rows(7, method="DnCNN")))


def test_json_is_plain_and_stable():
    raw = pr.PAPER_FILE.read_text()
    assert json.loads(raw) == pr.load()
    assert "\t" not in raw and raw.endswith("\n")
