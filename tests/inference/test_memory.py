"""Memory budget parsing, estimates and automatic tile choice."""

from __future__ import annotations

import pytest

from rnan_keras.errors import ConfigError
from rnan_keras.inference import memory


def test_parse_memory():
    assert memory.parse_memory("4G") == 4 * 1024**3
    assert memory.parse_memory("512M") == 512 * 1024**2
    assert memory.parse_memory("1.5GiB") == int(1.5 * 1024**3)
    assert memory.parse_memory("2e9") == 2_000_000_000
    assert memory.parse_memory(1000) == 1000
    assert memory.parse_memory(None) is None
    for bad in ("lots", "-1G", "0", 0):
        with pytest.raises(ConfigError):
            memory.parse_memory(bad)


def test_system_memory_is_reported():
    assert memory.available_memory() > 64 * 1024**2
    assert memory.current_rss() > 0


def test_non_local_bytes_dense_vs_chunked():
    n = 96 * 96
    dense = memory.non_local_bytes(n, "dense", 1024, 9216)
    chunked = memory.non_local_bytes(n, "chunked", 1024, 9216)
    assert dense == pytest.approx(2.5 * 4 * n * n)
    assert chunked == pytest.approx(2.5 * 4 * n * 1024)
    assert memory.non_local_bytes(n, "auto", 1024, 9216) == dense
    assert memory.non_local_bytes(n + 1, "auto", 1024, 9216) < dense


def test_estimate_grows_with_tile(tiny_rnan):
    sizes = [memory.estimate_tile_bytes(tiny_rnan, t, t) for t in (32, 64, 96)]
    assert sizes[0] < sizes[1] < sizes[2]
    assert memory.estimate_tile_bytes(tiny_rnan, 64, 64, scale=4) > sizes[1]


def test_choose_tile_follows_budget(tiny_rnan):
    big = memory.choose_tile(tiny_rnan, 2000, 2000, 64 * 1024**3)
    assert big == memory.DEFAULT_MAX_TILE
    small = memory.choose_tile(tiny_rnan, 2000, 2000, 100 * 1024**2)
    assert memory.MIN_TILE <= small < big and small % 8 == 0
    assert memory.estimate_tile_bytes(tiny_rnan, small, small) <= 100 * 1024**2
    assert memory.choose_tile(tiny_rnan, 2000, 2000, 1) == memory.MIN_TILE
    assert memory.choose_tile(tiny_rnan, 50, 60, 64 * 1024**3) is None  # one pass


def test_chunk_size_bounds(tiny_rnan):
    assert memory.choose_chunk_size(tiny_rnan, 2048, 2048, 1) == 64
    assert memory.choose_chunk_size(tiny_rnan, 64, 64, 10**12) == 4096


def test_budget_default_and_explicit(monkeypatch):
    assert memory.resolve_budget("3G") == 3 * 1024**3
    assert memory.resolve_budget("3G", gpu=True) == 3 * 1024**3
    assert memory.current_rss() > 0 and memory.available_memory() > 0  # read on Linux
    # The default is what is resident plus half of what the OS reports as available.
    monkeypatch.setattr(memory, "current_rss", lambda: 1 * memory.GIB)
    monkeypatch.setattr(memory, "available_memory", lambda: 6 * memory.GIB)
    assert memory.resolve_budget(None) == 4 * memory.GIB
    monkeypatch.setattr(memory, "available_memory", lambda: 2 * memory.GIB)
    assert memory.resolve_budget(None) == 2 * memory.GIB
    assert memory.resolve_budget(None, gpu=True) == memory.DEFAULT_GPU_BUDGET


def test_tiles_per_call_fills_the_budget_up_to_the_limit(tiny_rnan):
    need = memory.estimate_tile_bytes(tiny_rnan, 64, 64)

    def per_call(budget, h=500, w=400, tile=64):  # gpu=True: the budget is all working memory
        return memory.tiles_per_call(tiny_rnan, h, w, tile, max_memory=budget, gpu=True)

    assert per_call(3 * need + 1) == 3
    assert per_call(need - 1) == 1  # one tile is always run, even over budget
    assert per_call(10**15) == memory.MAX_TILES_PER_CALL
    assert per_call(10**15, tile=None) == 1  # one pass
    # A tile larger than the image is the image's size.
    small = memory.estimate_tile_bytes(tiny_rnan, 40, 64)
    assert per_call(2 * small, h=40) == 2


def test_windowed_non_local_bytes_are_linear_in_the_padded_map():
    assert memory.windowed_non_local_bytes(96, 96, 48) == int(2.5 * 4 * 96 * 96 * 48 * 48)
    # 97 pixels need 3 windows of 48 per side: the padded map is 144 x 144
    assert memory.windowed_non_local_bytes(97, 97, 48) == int(2.5 * 4 * 144 * 144 * 48 * 48)
    assert memory.windowed_non_local_bytes(960, 960, 48) == 100 * (
        memory.windowed_non_local_bytes(96, 96, 48))


def test_auto_tile_of_a_windowed_model_is_the_largest_that_fits(monkeypatch):
    """Windowed attention costs the same per pixel at any tile size: "auto" runs the image
    in one pass when it fits, else the largest tile that fits (no timing calibration)."""
    import rnan_keras
    from rnan_keras.inference import tile_cost

    model = rnan_keras.build_model("dn_gray", n_feats=8, n_resgroups=2, non_local_window=16)
    monkeypatch.setattr(tile_cost, "tile_cost", lambda *a: pytest.fail("calibrated"))
    working = {"bytes": 64 * 1024**3}
    monkeypatch.setattr(memory, "_budgets", lambda *a: (working["bytes"], working["bytes"]))
    assert memory.resolve_tile(model, 700, 500, "auto", c_in=1, c_out=1) == (None, model)
    working["bytes"] = memory.estimate_tile_bytes(model, 300, 300)
    tile, run = memory.resolve_tile(model, 700, 500, "auto", c_in=1, c_out=1)
    assert run is model and tile == 296  # the largest multiple of 8 within the budget
    assert tile > memory.DEFAULT_MAX_TILE
    assert memory.estimate_tile_bytes(model, tile, tile) <= working["bytes"]
    # a whole image that fits goes through in one pass, however large, with no chunked copy
    assert memory.resolve_tile(model, 250, 290, "none", c_in=1, c_out=1) == (None, model)
