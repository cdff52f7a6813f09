"""scripts/bench_restore.py compares whole-tile and windowed attention in one run."""

from __future__ import annotations

import json

from tests.conftest import load_script

bench = load_script("scripts/bench_restore.py")


def test_preset_with_and_without_windows(tmp_path):
    out = tmp_path / "bench.json"
    assert bench.main(["--preset", "dn_gray_small", "--sizes", "128", "--windows", "0", "16",
                       "--repeats", "1", "--out", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert payload["settings"]["windows"] == [0, 16]
    by_window = {r["non_local_window"]: r for r in payload["results"]}
    assert set(by_window) == {0, 16}
    for r in by_window.values():
        assert r["preset"] == "dn_gray_small" and r["variant"] == "dn_gray"
        assert r["seconds_median"] > 0 and r["peak_rss_mib"] > 0
    # global attention is tiled (auto, at most 96 px); windows let the image go in one pass
    assert by_window[0]["tile"] is not None and by_window[0]["tile"] <= 96
    assert by_window[16]["tile"] is None and by_window[16]["tiles"] == 1
