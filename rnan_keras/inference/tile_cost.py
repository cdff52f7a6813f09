"""How long one tile takes: a cost model calibrated on this machine, for ``tile="auto"``.

A tile of ``T x T`` input pixels costs about ``c0 + c2 T^2 + c4 T^4`` seconds: a fixed
per-call overhead, the convolutions (linear in the pixels) and the non-local attention
(quadratic in the positions). How the terms compare depends on the model and the machine:
on this project's 2-core CPU the full ``dn_rgb`` model spends ~20 % of a 96^2 tile in the
attention, the 0.12 M-parameter presets most of it (their convolutions are cheap). So the
three coefficients are fitted, once per model and process, from passes at 32^2, 48^2, 64^2
and 96^2 (non-negative least squares over the subsets of the three terms). The first pass at
each size is not timed: TensorFlow sets up kernels for every new shape, which made the small
sizes look up to 2x slower than they run and "auto" pick 96-pixel tiles where 48-56 run
about 1.6-1.8x faster. The time of a size is the fastest of ``CALIBRATION_REPEATS`` passes
after that. The whole calibration, tracing included, takes about 2 s for a small preset and
6 s for the full model on this project's 2-core CPU. :func:`best_tile` then picks the tile
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
CALIBRATION_SIZES = (32, 48, 64, 96)
#: Timed passes per size, after one untimed pass (the fastest counts).
CALIBRATION_REPEATS = 2

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


def calibration_seconds(predict: Callable[[np.ndarray], np.ndarray], channels: int,
                        sizes: Sequence[int] = CALIBRATION_SIZES,
                        repeats: int = CALIBRATION_REPEATS) -> list[float]:
    """Steady seconds of ``predict`` on one ``(1, T, T, channels)`` tile, for each ``T``.

    One untimed pass per size first (kernel set-up for a new shape is not a tile's cost),
    then the fastest of ``repeats`` timed passes.
    """
    rng = np.random.default_rng(0)
    seconds = []
    for size in sizes:
        x = rng.uniform(0, 255, (1, size, size, channels)).astype(np.float32)
        predict(x)
        timed = []
        for _ in range(repeats):
            start = time.perf_counter()
            predict(x)
            timed.append(time.perf_counter() - start)
        seconds.append(min(timed))
    return seconds


def tile_cost(model, channels: int) -> Callable[[int, int], float]:
    """Seconds per ``h x w`` tile for ``model``, calibrated on first use (cached per model)."""
    coef = _COSTS.get(model)
    if coef is None:
        seconds = calibration_seconds(model_function(model), channels)
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
