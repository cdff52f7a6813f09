"""The speed policy of tile="auto": a calibrated cost model and the fastest tile under it."""

from __future__ import annotations

import numpy as np
import pytest

from rnan_keras.inference import memory, tile_cost
from rnan_keras.inference.tiling import count_tiles


def test_fit_recovers_the_coefficients_and_stays_non_negative():
    sizes = tile_cost.CALIBRATION_SIZES
    c = (0.01, 2e-6, 3e-11)
    seconds = [c[0] + c[1] * t**2 + c[2] * t**4 for t in sizes]
    np.testing.assert_allclose(tile_cost.fit_cost(sizes, seconds), c, rtol=1e-6)
    # Timings that would need a negative term: that term is dropped, the rest refitted.
    fitted = tile_cost.fit_cost(sizes, [0.5, 0.45, 0.4, 0.9])
    assert min(fitted) >= 0 and fitted != (0.0, 0.0, 0.0)


def test_best_tile_follows_what_dominates():
    h, w, overlap = 321, 481, 16
    candidates = list(range(32, 97, 8))

    def attention_bound(a, b):  # cost grows with the square of the positions
        return 1e-3 + 1e-9 * (a * b) ** 2

    def conv_bound(a, b):  # linear in the pixels plus a per-tile overhead
        return 5e-2 + 1e-6 * a * b

    fast = tile_cost.best_tile(h, w, overlap, candidates, attention_bound)
    big = tile_cost.best_tile(h, w, overlap, candidates, conv_bound)
    assert fast < big == 96
    # It is the minimum of the prediction, and the prediction counts the real tiles.
    pred = {t: tile_cost.predicted_seconds(h, w, t, overlap, attention_bound)
            for t in candidates}
    assert pred[fast] == min(pred.values())
    assert pred[96] == count_tiles(h, w, 96, overlap) * attention_bound(96, 96)
    # A tile never exceeds the image: a 40-pixel-high strip costs what its real tiles cost.
    assert tile_cost.predicted_seconds(40, 500, 96, 16, conv_bound) == pytest.approx(
        count_tiles(40, 500, 96, 16) * conv_bound(40, 96))


def test_calibration_skips_the_first_pass_of_each_shape(monkeypatch):
    # A fake model on a fake clock: a tile of T^2 pixels costs T^2 microseconds, and the
    # first pass at a new shape costs 0.1 s more (kernel set-up), as TensorFlow's does.
    clock, seen = [0.0], set()

    def predict(x):
        clock[0] += x.shape[1] * x.shape[2] * 1e-6 + (0.1 if x.shape not in seen else 0.0)
        seen.add(x.shape)

    monkeypatch.setattr(tile_cost.time, "perf_counter", lambda: clock[0])
    seconds = tile_cost.calibration_seconds(predict, 3, (32, 64), repeats=1)
    np.testing.assert_allclose(seconds, [32**2 * 1e-6, 64**2 * 1e-6], rtol=1e-9)


def test_calibration_times_the_model_once(tiny_rnan, monkeypatch):
    tile_cost._COSTS.pop(tiny_rnan, None)
    cost = tile_cost.tile_cost(tiny_rnan, 3)
    assert 0 < cost(32, 32) < cost(96, 96)
    calls = []
    monkeypatch.setattr(tile_cost, "model_function", lambda m: calls.append(m))
    again = tile_cost.tile_cost(tiny_rnan, 3)  # cached: nothing is run again
    assert calls == [] and again(64, 64) == cost(64, 64)


def test_auto_tile_uses_the_cost_model(tiny_rnan, monkeypatch):
    monkeypatch.setattr(tile_cost, "tile_cost",
                        lambda model, c: (lambda a, b: 1e-3 + 1e-9 * (a * b) ** 2))
    tile, _ = memory.resolve_tile(tiny_rnan, 321, 481, "auto", max_memory="64G")
    assert tile < memory.DEFAULT_MAX_TILE
    monkeypatch.setattr(tile_cost, "tile_cost", lambda model, c: (lambda a, b: 1.0))
    tile, _ = memory.resolve_tile(tiny_rnan, 321, 481, "auto", max_memory="64G")
    assert tile == memory.DEFAULT_MAX_TILE  # fewest tiles when every tile costs the same
    # Small images stay one pass, without calibration.
    monkeypatch.setattr(tile_cost, "tile_cost", None)
    assert memory.resolve_tile(tiny_rnan, 80, 90, "auto", max_memory="64G")[0] is None
