"""How long one tile takes: a cost model calibrated on this machine, for ``tile="auto"``.

A tile of ``T x T`` input pixels costs about ``c0 + c2 T^2 + c4 T^4`` seconds: a fixed
per-call overhead, the convolutions (linear in the pixels) and the non-local attention
(quadratic in the positions). How the terms compare depends on the model and the machine:
on this project's 2-core CPU the full ``dn_rgb`` model spends ~20 % of a 96^2 tile in the
attention, the 0.12 M-parameter presets most of it (their convolutions are cheap). So the
three coefficients are fitted, once per model and process, from the time of one pass at
32^2, 64^2 and 96^2 (non-negative least squares over the subsets of the three terms; about
0.5 s for a small preset, 2 s for the full model). :func:`best_tile` then picks the tile
that minimises ``tiles(T) * cost(T)`` for an image, among the sizes the memory budget
allows.
"""

from __future__ import annotations

import itertools
import time
import weakref
from collections.abc import Callable, Sequence

import numpy as np

from rnan_keras.inference.tiling import count_tiles, model_function

#: Tile sizes (input pixels) the calibration times.
CALIBRATION_SIZES = (32, 64, 96)

_COSTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def fit_cost(sizes: Sequence[int], seconds: Sequence[float]) -> tuple[float, float, float]:
    """Non-negative ``(c0, c2, c4)`` with ``seconds ~ c0 + c2 T^2 + c4 T^4`` (least squares)."""
    t = np.asarray(sizes, np.float64)
    y = np.asarray(seconds, np.float64)
    basis = np.stack([np.ones_like(t), t**2, t**4], axis=1)
    best, best_err = (float(np.mean(y)), 0.0, 0.0), np.inf
    for k in (1, 2, 3):
        for cols in itertools.combinations(range(3), k):
            coef, *_ = np.linalg.lstsq(basis[:, cols], y, rcond=None)
            if np.any(coef < 0):
                continue
            err = float(np.sum((basis[:, cols] @ coef - y) ** 2))
            if err < best_err - 1e-15:
                full = [0.0, 0.0, 0.0]
                for c, v in zip(cols, coef, strict=True):
                    full[c] = float(v)
                best, best_err = tuple(full), err
    return best  # type: ignore[return-value]


def tile_cost(model, channels: int) -> Callable[[int, int], float]:
    """Seconds per ``h x w`` tile for ``model``, calibrated on first use (cached per model)."""
    coef = _COSTS.get(model)
    if coef is None:
        predict = model_function(model)
        rng = np.random.default_rng(0)
        predict(rng.uniform(0, 255, (1, 16, 16, channels)).astype(np.float32))  # trace
        seconds = []
        for size in CALIBRATION_SIZES:
            x = rng.uniform(0, 255, (1, size, size, channels)).astype(np.float32)
            start = time.perf_counter()
            predict(x)
            seconds.append(time.perf_counter() - start)
        coef = fit_cost(CALIBRATION_SIZES, seconds)
        _COSTS[model] = coef
    c0, c2, c4 = coef
    return lambda h, w: c0 + c2 * (h * w) + c4 * (h * w) ** 2


def predicted_seconds(height: int, width: int, tile: int, overlap: int,
                      cost: Callable[[int, int], float]) -> float:
    """Predicted time of an image in ``tile``-pixel tiles (a tile never exceeds the image)."""
    n = count_tiles(height, width, tile, overlap)
    return n * cost(min(tile, height), min(tile, width))


def best_tile(height: int, width: int, overlap: int, candidates: Sequence[int],
              cost: Callable[[int, int], float]) -> int:
    """The candidate tile size with the least predicted time for the image.

    Ties go to the larger tile (fewer seams, a wider non-local field of view).
    """
    if not candidates:
        raise ValueError("no candidate tile sizes")
    return min(candidates,
               key=lambda t: (predicted_seconds(height, width, t, overlap, cost), -t))
