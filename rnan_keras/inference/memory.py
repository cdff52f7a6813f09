"""Memory budget for inference: how big a tile may be.

RNAN's memory is dominated by its two non-local blocks. On a tile of ``T x T`` positions
(``N = T^2``) the dense path holds the ``N x N`` attention matrix and its softmax
(``~2 x 4 N^2`` bytes: 0.7 GB at ``T = 96``, 2.7 GB at ``T = 128``); the chunked path holds
``N x chunk_size`` blocks instead. The convolutional features are small in comparison
(``T^2 x n_feats x 4`` bytes per tensor, a few tensors alive at once; SR adds the
up-sampled ``(sT)^2`` features). :func:`estimate_tile_bytes` adds these up with factors
measured on the full-size ``dn_rgb`` model on CPU (peak RSS growth of 140 / 338 / 696 MB
for 64 / 80 / 96 pixel tiles, dense; 159 MB for 128 pixel tiles, chunked).

The budget (:func:`resolve_budget`) is a target for the whole process's peak memory: by
default the current resident size plus half of the memory the kernel reports as
available (``MemAvailable`` in ``/proc/meminfo``), or an explicit ``max_memory`` such as
``"4G"``. From it we subtract what is already resident, the image buffers and a fixed
allowance for TensorFlow's graph tracing; the rest is what one tile may use.

On a GPU the relevant memory is the device's, which TensorFlow does not report before
allocating; there the default budget is :data:`DEFAULT_GPU_BUDGET` (pass ``max_memory``
to use more).
"""

from __future__ import annotations

import numbers
import os
import re
import warnings
import weakref
from typing import Any

from rnan_keras.errors import ConfigError

GIB = 1024**3
MIB = 1024**2

#: Fraction of MemAvailable that the default budget lets inference use.
DEFAULT_FRACTION = 0.5
#: Default working budget on a GPU (its memory is not known before TF allocates it).
DEFAULT_GPU_BUDGET = 4 * GIB
#: Tracing / allocator overhead allowed for on top of the estimate.
TRACE_OVERHEAD = 300 * MIB
#: Largest tile ``tile="auto"`` picks (input pixels). The official ``forward_chop`` splits
#: images until a tile has fewer than 10 000 pixels, so 96 x 96 keeps the non-local
#: attention's field of view close to the one the paper's numbers were measured with; it is
#: also about the fastest tile size on CPU (the dense attention's cost per pixel grows
#: with the tile area).
DEFAULT_MAX_TILE = 96
#: Smallest tile ``tile="auto"`` falls back to.
MIN_TILE = 32
#: Default overlap between tiles (input pixels).
DEFAULT_OVERLAP = 16
#: Most tiles ``restore`` stacks into one model call (when the budget holds them).
MAX_TILES_PER_CALL = 8

_NL_FACTOR = 2.5  # attention matrices alive at once (logits + softmax + slack)
_FEAT_TENSORS = 16  # feature maps alive at once, generous


def parse_memory(value: str | float | None) -> int | None:
    """``"4G"``, ``"512M"``, ``"1.5GiB"``, ``"2e9"`` or a number of bytes -> bytes."""
    if value is None:
        return None
    if isinstance(value, int | float):
        if value <= 0:
            raise ConfigError(f"memory budget must be positive, got {value}")
        return int(value)
    text = str(value).strip()
    m = re.fullmatch(r"(?i)\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kmgt]?)(i?b)?\s*", text)
    if not m:
        raise ConfigError(f"cannot read memory size {value!r}; use e.g. 4G, 512M or bytes")
    number = float(m.group(1))
    unit = {"": 1, "k": 1024, "m": MIB, "g": GIB, "t": 1024 * GIB}[m.group(2).lower()]
    if number <= 0:
        raise ConfigError(f"memory budget must be positive, got {value!r}")
    return int(number * unit)


def _meminfo() -> dict[str, int]:
    info: dict[str, int] = {}
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                key, _, rest = line.partition(":")
                parts = rest.split()
                if parts and parts[0].isdigit():
                    info[key] = int(parts[0]) * 1024
    except OSError:
        pass
    return info


def available_memory() -> int:
    """Bytes the OS reports as available (``MemAvailable``), or a 4 GiB guess elsewhere."""
    info = _meminfo()
    if "MemAvailable" in info:
        return info["MemAvailable"]
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 4 * GIB


def current_rss() -> int:
    """Resident set size of this process in bytes (0 if unknown)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _nl_settings(model) -> tuple[int, str, int, int] | None:
    """(n_feats, non_local_mode, chunk_size, max_dense_positions) of an RNAN, else None."""
    cfg = getattr(model, "rnan_config", None)
    if cfg is None or not getattr(cfg, "use_non_local", True):
        return None
    return int(cfg.n_feats), str(cfg.non_local_mode), int(cfg.chunk_size), int(
        cfg.max_dense_positions
    )


def model_window(model) -> int:
    """The non-local window of an RNAN (0: attention over the whole tile)."""
    cfg = getattr(model, "rnan_config", None)
    return int(getattr(cfg, "non_local_window", 0)) if cfg is not None else 0


def model_feats(model) -> int:
    cfg = getattr(model, "rnan_config", None)
    return int(cfg.n_feats) if cfg is not None else 64


def non_local_bytes(n_positions: int, mode: str, chunk_size: int, max_dense: int) -> int:
    """Peak bytes of one non-local block on ``n_positions`` positions (global attention)."""
    dense = mode == "dense" or (mode == "auto" and n_positions <= max_dense)
    cols = n_positions if dense else min(chunk_size, n_positions)
    return int(_NL_FACTOR * 4 * n_positions * cols)


def estimate_tile_bytes(model, height: int, width: int, scale: int = 1) -> int:
    """Estimated peak working memory (bytes) of one forward pass on an ``height x width`` tile."""
    n = int(height) * int(width)
    feats = model_feats(model)
    total = _FEAT_TENSORS * n * feats * 4
    if scale > 1:  # up-sampler: conv to (s^2 F) channels, then pixel shuffle
        total += 4 * n * scale * scale * feats * 4
    settings = _nl_settings(model)
    if settings is not None:
        _, mode, chunk, max_dense = settings
        window = model_window(model)
        total += (windowed_non_local_bytes(height, width, window) if window
                  else non_local_bytes(n, mode, chunk, max_dense))
    return int(total)


def windowed_non_local_bytes(height: int, width: int, window: int) -> int:
    """Peak bytes of one non-local block attending within ``window x window`` windows: the
    ``window^2`` logits of every position of the map padded to whole windows, dense."""
    padded = -(-int(height) // window) * window * (-(-int(width) // window) * window)
    return int(_NL_FACTOR * 4 * padded * window * window)


def image_buffer_bytes(height: int, width: int, c_in: int, c_out: int, scale: int) -> int:
    """float32 input, blended output (x2 while averaging / converting) and weight sum."""
    out_px = height * width * scale * scale
    return 4 * (height * width * c_in + 3 * out_px * c_out + out_px)


def resolve_budget(max_memory: str | float | None = None, *, gpu: bool = False) -> int:
    """Target peak memory of the process, in bytes (see the module docstring)."""
    explicit = parse_memory(max_memory)
    if explicit is not None:
        return explicit
    if gpu:
        return DEFAULT_GPU_BUDGET
    return current_rss() + int(DEFAULT_FRACTION * available_memory())


def working_budget(
    budget: int, height: int, width: int, c_in: int, c_out: int, scale: int, *, gpu: bool = False
) -> int:
    """Bytes one tile may use under ``budget`` once resident memory and buffers are counted."""
    if gpu:
        return budget
    used = current_rss() + image_buffer_bytes(height, width, c_in, c_out, scale)
    return budget - used - TRACE_OVERHEAD


def _budgets(
    max_memory: str | float | None, height: int, width: int, c_in: int, c_out: int, scale: int,
    gpu: bool,
) -> tuple[int, int]:
    """``(budget, working)``: the process budget and what one tile of this image may use."""
    budget = resolve_budget(max_memory, gpu=gpu)
    return budget, working_budget(budget, height, width, c_in, c_out, scale, gpu=gpu)


def choose_tile(
    model,
    height: int,
    width: int,
    working: int,
    *,
    scale: int = 1,
    max_tile: int = DEFAULT_MAX_TILE,
    min_tile: int = MIN_TILE,
    overlap: int = DEFAULT_OVERLAP,
    cost=None,
) -> int | None:
    """The tile for ``tile="auto"``: fastest within the memory budget.

    Candidates are the multiples of 8 from ``min_tile`` to ``max_tile`` whose estimate fits
    ``working`` bytes; among them the one with the least predicted time for the image when
    ``cost`` (seconds per ``h x w`` tile, :func:`rnan_keras.inference.tile_cost.tile_cost`)
    is given, else the largest. Returns None when the whole image is no larger than
    ``max_tile`` and fits (one pass). Falls back to ``min_tile`` if nothing fits (the
    caller may warn).
    """
    if height <= max_tile and width <= max_tile and (
        estimate_tile_bytes(model, height, width, scale) <= working
    ):
        return None
    fits = [t for t in range(min_tile + (-min_tile) % 8, max_tile + 1, 8)
            if estimate_tile_bytes(model, t, t, scale) <= working]
    if not fits:
        return min_tile
    if cost is None:
        return fits[-1]
    from rnan_keras.inference.tile_cost import best_tile

    return best_tile(height, width, overlap, fits, cost)


def tiles_per_call(
    model,
    height: int,
    width: int,
    tile: int | None,
    *,
    max_memory: str | float | None = None,
    c_in: int = 3,
    c_out: int = 3,
    scale: int = 1,
    gpu: bool = False,
    limit: int = MAX_TILES_PER_CALL,
) -> int:
    """How many ``tile``-pixel tiles of an ``height x width`` image to run per model call:
    as many as the memory budget holds, at most ``limit`` (1 for a single pass)."""
    if tile is None:
        return 1
    _, working = _budgets(max_memory, height, width, c_in, c_out, scale, gpu)
    need = estimate_tile_bytes(model, min(tile, height), min(tile, width), scale)
    return int(max(1, min(limit, working // max(need, 1))))


def choose_chunk_size(model, height: int, width: int, working: int) -> int:
    """Chunk size for whole-image chunked attention that fits ``working`` bytes (>= 64)."""
    n = max(int(height) * int(width), 1)
    feats = model_feats(model)
    left = working - _FEAT_TENSORS * n * feats * 4
    chunk = int(left / (_NL_FACTOR * 4 * n)) if left > 0 else 0
    return int(min(max(chunk, 64), 4096))


# --------------------------------------------------------------------------- tile policy

_CHUNKED_CLONES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _whole_image_model(model, height: int, width: int, working: int):
    """``model``, or a copy whose non-local blocks are chunked to fit ``working`` bytes."""
    cfg = getattr(model, "rnan_config", None)
    if cfg is None or not cfg.use_non_local or model_window(model):
        return model
    chunk = choose_chunk_size(model, height, width, working)
    n = height * width
    if non_local_bytes(n, cfg.non_local_mode, cfg.chunk_size, cfg.max_dense_positions) <= (
        non_local_bytes(n, "chunked", chunk, 0)
    ):
        return model
    clones = _CHUNKED_CLONES.setdefault(model, {})
    if chunk not in clones:
        from rnan_keras.models.rnan import with_non_local_mode

        clones.clear()
        clones[chunk] = with_non_local_mode(model, "auto", chunk_size=chunk)
    return clones[chunk]


def resolve_tile(
    model,
    height: int,
    width: int,
    tile: int | str | None,
    *,
    max_memory: str | float | None = None,
    c_in: int = 3,
    c_out: int = 3,
    scale: int = 1,
    gpu: bool = False,
    overlap: int = DEFAULT_OVERLAP,
) -> tuple[int | None, Any]:
    """(tile size or None for one pass, model to run) for ``tile`` = "auto" / "none" / int.

    ``"auto"`` picks the fastest tile within the memory budget from a cost model timed on
    this machine (:mod:`rnan_keras.inference.tile_cost`). For a model with windowed
    attention (``non_local_window``) the cost per pixel does not grow with the tile, so it
    picks one pass when the image fits the budget, else the largest tile that fits (the
    fewest overlaps).
    """
    if tile is None or (isinstance(tile, str) and tile.lower() == "none"):
        _, working = _budgets(max_memory, height, width, c_in, c_out, scale, gpu)
        return None, _whole_image_model(model, height, width, working)
    if isinstance(tile, str) and tile.lower() == "auto":
        budget, working = _budgets(max_memory, height, width, c_in, c_out, scale, gpu)
        cost, max_tile = None, DEFAULT_MAX_TILE
        if model_window(model):  # linear cost: the largest tile that fits is the fastest
            max_tile = max(height, width, MIN_TILE)
        elif height > DEFAULT_MAX_TILE or width > DEFAULT_MAX_TILE:
            from rnan_keras.inference.tile_cost import tile_cost

            cost = tile_cost(model, c_in)
        chosen = choose_tile(model, height, width, working, scale=scale, overlap=overlap,
                             cost=cost, max_tile=max_tile)
        needed = estimate_tile_bytes(model, chosen or height, chosen or width, scale)
        if needed > working:
            warnings.warn(
                f"memory budget {budget / GIB:.2f} GiB is tight: using the smallest "
                f"tile ({chosen}px), which needs about {needed / MIB:.0f} MiB more",
                stacklevel=3,
            )
        return chosen, model
    if isinstance(tile, str):
        try:
            tile = int(tile)
        except ValueError:
            raise ConfigError(f"tile must be 'auto', 'none' or a number, got {tile!r}") from None
    if isinstance(tile, bool) or not isinstance(tile, numbers.Integral) or tile < 8:
        raise ConfigError(f"tile must be 'auto', 'none' or an integer >= 8, got {tile!r}")
    return int(tile), model
