"""``rnan_keras.restore``: restore one image with a model or preset, in bounded memory.

Accepted inputs and what comes back:

=====================  ======================================================================
input                  output
=====================  ======================================================================
path (str / Path)      numpy array as :func:`~rnan_keras.data.image_io.read_image` returns
                       (or, with ``output=``, the file written and its path returned)
PIL image              PIL image (L / LA / RGB / RGBA / I;16 like the input's colour layout;
                       16-bit colour results, which PIL cannot hold, become 8-bit RGB)
numpy array            numpy array of the same dtype and layout: ``(H, W)`` or ``(H, W, C)``,
                       ``C`` in 1..4 (2 and 4 carry alpha); uint8, uint16, other integer types
                       holding 0..255, or float on the 0-255 scale (returned clipped to 0-255)
=====================  ======================================================================

Images are converted to float32 0-255 for the model (uint16 is divided by 257 and the
result multiplied back). EXIF orientation is applied to files and PIL images. NaN / Inf
or out-of-range values raise :class:`~rnan_keras.errors.InvalidImageError`.

Colour handling -- the model's channel count decides:

- colour model (3 channels), gray input: the gray image is repeated to RGB (a warning
  says so) and the output is RGB.
- gray denoising model (``dn_gray``), colour input: converted to gray with Matlab
  ``rgb2gray`` (with a warning); the output is gray.
- ``car`` model (1-channel Y), colour input: the image is converted to YCbCr (Matlab
  BT.601), the Y channel is restored, and the original Cb / Cr are recombined, so the output
  is colour (the paper reduces artifacts on Y only). Gray input is taken as Y directly.
- ``demosaic`` model: a 1-channel input is taken as a raw GRBG Bayer image and spread into
  the 3-channel zero-filled mosaic the model expects; a 3-channel input must already be
  that mosaic.
- alpha is passed through unchanged (for SR it is up-scaled with bicubic interpolation).

Super-resolution: the scale comes from the model (output / input size); a ``scale=``
argument that disagrees raises :class:`~rnan_keras.errors.ConfigError`.

Tiling (``tile=``): ``"auto"`` picks the tile from a memory budget (``max_memory``, default
half of the available RAM on top of what the process uses; see
:mod:`rnan_keras.inference.memory`), an int forces a tile size in input pixels, and
``"none"`` runs the whole image at once with RNAN's exact chunked non-local attention (whole-
image attention in O(HW x chunk) memory; the convolutional features of a large image
still need a lot of memory, and the attention's cost grows with (HW)^2). With tiles, the
non-local attention sees one tile, as in the official ``forward_chop`` (which splits until a
tile has under 10 000 pixels); see :mod:`rnan_keras.inference.tiling`.

``ensemble=True`` averages the 8 flips / rotations (the paper's RNAN+).
"""

from __future__ import annotations

import os
import sys
import warnings
import weakref
from typing import Any

import numpy as np

from rnan_keras.errors import ConfigError, InvalidImageError, RNANError
from rnan_keras.inference import memory
from rnan_keras.inference.ensemble import self_ensemble
from rnan_keras.inference.tiling import count_tiles, model_function, model_scale, predict_tiled
from rnan_keras.models.resolve import (  # noqa: F401 -- re-exported: the one model resolver
    check_degradation_settings,
    load_model_file,
    load_preset_model,
    model_channels,
    model_task,
    resolve_model,
)

_VARIANTS_CLONES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


# --------------------------------------------------------------------------- image in / out


def _image_from_input(image: Any, max_pixels: int | None):
    """(array HWC, kind, info) from a path, PIL image or numpy array."""
    from rnan_keras.data.image_io import pil_to_array, read_image

    if isinstance(image, str | os.PathLike):
        return read_image(image, max_pixels=max_pixels), "path", {"squeeze": False}
    from PIL import Image

    if isinstance(image, Image.Image):
        arr = pil_to_array(image, source="PIL image")
        return arr, "pil", {"mode": image.mode}
    if isinstance(image, np.ndarray):
        return _check_array(image), "array", {"squeeze": image.ndim == 2}
    raise InvalidImageError(
        f"expected an image path, a PIL image or a numpy array, got {type(image).__name__}"
    )


def _check_array(arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise InvalidImageError(
            f"image array must be (H, W) or (H, W, C), got shape {arr.shape}"
        )
    h, w, c = arr.shape
    if h < 1 or w < 1:
        raise InvalidImageError(f"image array is empty (shape {arr.shape})")
    if c not in (1, 2, 3, 4):
        raise InvalidImageError(f"image must have 1, 2, 3 or 4 channels, got {c}")
    if arr.dtype == np.bool_ or arr.dtype.kind not in "uif":
        raise InvalidImageError(f"unsupported image dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise InvalidImageError("image contains NaN or Inf values")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < -1e-3 or hi > 255.0 + 1e-3:
            raise InvalidImageError(
                f"float images must be on the 0-255 scale, got values in {lo:g}..{hi:g}"
            )
        if hi <= 1.0 and hi > lo:
            warnings.warn(
                "float image has values <= 1; rnan_keras expects the 0-255 scale "
                "(multiply by 255 if this is a 0-1 image)",
                stacklevel=4,
            )
    elif arr.dtype.kind in "iu" and arr.dtype not in (np.uint8, np.uint16):
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 255:
            raise InvalidImageError(
                f"{arr.dtype} images must hold 0..255 (use uint16 for 16-bit), got {lo}..{hi}"
            )
    return arr


def _to_float(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / np.float32(257.0)
    return np.clip(arr.astype(np.float32), 0.0, 255.0)


def _from_float(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    x = np.clip(x, 0.0, 255.0)
    if dtype == np.uint16:
        return np.floor(x.astype(np.float64) * 257.0 + 0.5).astype(np.uint16)
    if dtype.kind == "f":
        return x.astype(dtype)
    return np.floor(x + 0.5).astype(dtype)


def _upscale_alpha(alpha: np.ndarray, scale: int) -> np.ndarray:
    """Bicubic up-scaling of an ``(H, W, 1)`` float alpha channel."""
    if scale == 1:
        return alpha
    from PIL import Image

    h, w = alpha.shape[:2]
    img = Image.fromarray(alpha[:, :, 0].astype(np.float32), mode="F")
    big = img.resize((w * scale, h * scale), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(big, dtype=np.float32), 0.0, 255.0)[:, :, None]


def _bayer_from_raw(raw: np.ndarray) -> np.ndarray:
    """1-channel GRBG Bayer image ``(H, W, 1)`` -> zero-filled ``(H, W, 3)`` mosaic."""
    h, w = raw.shape[:2]
    out = np.zeros((h, w, 3), np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    even_row, even_col = yy % 2 == 0, xx % 2 == 0
    # GRBG: row 0 = G R G R ..., row 1 = B G B G ...
    green = even_row == even_col
    red = even_row & ~even_col
    blue = ~even_row & even_col
    out[:, :, 0][red] = raw[:, :, 0][red]
    out[:, :, 1][green] = raw[:, :, 0][green]
    out[:, :, 2][blue] = raw[:, :, 0][blue]
    return out


def _rgb_to_gray(x: np.ndarray) -> np.ndarray:
    from rnan_keras.data.color import rgb_to_gray

    return np.asarray(rgb_to_gray(x), np.float32)


def _rgb_to_ycbcr(x: np.ndarray) -> np.ndarray:
    from rnan_keras.data.color import rgb_to_ycbcr

    return np.asarray(rgb_to_ycbcr(x), np.float32)


def _ycbcr_to_rgb(x: np.ndarray) -> np.ndarray:
    from rnan_keras.data.color import ycbcr_to_rgb

    return np.asarray(ycbcr_to_rgb(x), np.float32)


# --------------------------------------------------------------------------- core


def _whole_image_model(model, height: int, width: int, working: int):
    """``model``, or a copy whose non-local blocks are chunked to fit ``working`` bytes."""
    cfg = getattr(model, "rnan_config", None)
    if cfg is None or not cfg.use_non_local:
        return model
    chunk = memory.choose_chunk_size(model, height, width, working)
    n = height * width
    if memory.non_local_bytes(n, cfg.non_local_mode, cfg.chunk_size, cfg.max_dense_positions) <= (
        memory.non_local_bytes(n, "chunked", chunk, 0)
    ):
        return model
    clones = _VARIANTS_CLONES.setdefault(model, {})
    if chunk not in clones:
        from rnan_keras.models.rnan import with_non_local_mode

        clones.clear()
        clones[chunk] = with_non_local_mode(model, "auto", chunk_size=chunk)
    return clones[chunk]


def _progress_bar(total: int, progress: bool | None, desc: str):
    from tqdm.auto import tqdm

    disable = (not sys.stderr.isatty()) if progress is None else not progress
    return tqdm(total=total, desc=desc, unit="tile", leave=False, disable=disable)


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
) -> tuple[int | None, Any]:
    """(tile size or None for one pass, model to run) for ``tile`` = "auto" / "none" / int."""
    if tile is None or (isinstance(tile, str) and tile.lower() == "none"):
        budget = memory.resolve_budget(max_memory, gpu=gpu)
        working = memory.working_budget(budget, height, width, c_in, c_out, scale, gpu=gpu)
        return None, _whole_image_model(model, height, width, working)
    if isinstance(tile, str) and tile.lower() == "auto":
        budget = memory.resolve_budget(max_memory, gpu=gpu)
        working = memory.working_budget(budget, height, width, c_in, c_out, scale, gpu=gpu)
        chosen = memory.choose_tile(model, height, width, working, scale=scale)
        needed = memory.estimate_tile_bytes(model, chosen or height, chosen or width, scale)
        if needed > working:
            warnings.warn(
                f"memory budget {budget / memory.GIB:.2f} GiB is tight: using the smallest "
                f"tile ({chosen}px), which needs about {needed / memory.MIB:.0f} MiB more",
                stacklevel=3,
            )
        return chosen, model
    if isinstance(tile, str):
        try:
            tile = int(tile)
        except ValueError:
            raise ConfigError(f"tile must be 'auto', 'none' or a number, got {tile!r}") from None
    if isinstance(tile, bool) or not isinstance(tile, int | np.integer) or tile < 8:
        raise ConfigError(f"tile must be 'auto', 'none' or an integer >= 8, got {tile!r}")
    return int(tile), model


def restore_array(
    model,
    x: np.ndarray,
    *,
    tile: int | str | None = "auto",
    overlap: int = memory.DEFAULT_OVERLAP,
    ensemble: bool = False,
    max_memory: str | float | None = None,
    progress: bool | None = None,
    gpu: bool = False,
) -> np.ndarray:
    """Run ``model`` on one float32 ``(H, W, C)`` 0-255 image (tiled, optionally x8).

    ``C`` must be the model's channel count. Returns ``(s*H, s*W, C_out)`` float32,
    not clipped.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    h, w, c = x.shape
    scale = model_scale(model, c)
    tile_size, runner = resolve_tile(
        model, h, w, tile, max_memory=max_memory, c_in=c, c_out=c, scale=scale, gpu=gpu
    )
    n_views = 8 if ensemble else 1
    total = count_tiles(h, w, tile_size, overlap) * n_views
    predict = model_function(runner)
    with _progress_bar(total, progress, "tiles") as bar:

        def one(view: np.ndarray) -> np.ndarray:
            return predict_tiled(
                runner, view, tile_size, overlap, scale=scale, predict=predict,
                progress=bar.update,
            )

        if ensemble:
            return self_ensemble(one, x)
        return one(x)


def restore(
    image: Any,
    model_or_preset: Any,
    *,
    sigma: float | None = None,
    quality: int | None = None,
    scale: int | None = None,
    tile: int | str | None = "auto",
    ensemble: bool = False,
    overlap: int = memory.DEFAULT_OVERLAP,
    max_memory: str | float | None = None,
    progress: bool | None = None,
    max_pixels: int | None = None,
    output: str | os.PathLike | None = None,
    device: str | None = None,
) -> Any:
    """Restore ``image`` with a model, a ``.keras`` file or a preset name.

    Args:
        image: file path, PIL image or numpy array (see the module docstring).
        model_or_preset: a ``keras.Model``, a path to a ``.keras`` file, or a preset name
            (resolved with ``rnan_keras.load_preset``).
        sigma, quality: noise level (0-255) / JPEG quality (1-100) of the input. They never
            change the model (RNAN models are blind): checked with
            :func:`check_degradation_settings`, which refuses a setting the model's task does
            not take and warns once when it is outside a preset's trained range.
        scale: SR factor; checked against the model's.
        tile: ``"auto"`` (memory budget), an int (tile size in input pixels) or ``"none"``.
        ensemble: average the 8 flips / rotations (RNAN+); 8x slower.
        overlap: overlap between tiles in input pixels.
        max_memory: peak memory target such as ``"4G"`` (default: see
            :mod:`rnan_keras.inference.memory`).
        progress: show a tqdm bar over tiles (default: when stderr is a terminal).
        max_pixels: refuse larger images (checked before decoding files).
        output: when ``image`` is a path, also write the result there (atomically) and
            return that path.
        device: ``"cpu"`` or ``"gpu"`` to pin the computation; default TensorFlow's choice.

    Returns:
        The restored image, of the same kind as ``image`` (see the module docstring).

    Raises:
        InvalidImageError, ImageReadError, ImageTooLargeError: bad input.
        ConfigError, ModelLoadError: unusable model / preset / option.
    """
    arr, kind, info = _image_from_input(image, max_pixels)
    if max_pixels is not None and arr.shape[0] * arr.shape[1] > max_pixels:
        from rnan_keras.errors import ImageTooLargeError

        raise ImageTooLargeError(
            f"image has {arr.shape[0] * arr.shape[1]:,} pixels, above the limit {max_pixels:,}"
        )
    model = resolve_model(model_or_preset)
    for note in check_degradation_settings(model, sigma=sigma, quality=quality):
        warnings.warn(note, stacklevel=2)
    m_channels = model_channels(model)
    task = model_task(model)
    m_scale = model_scale(model, m_channels)
    if scale is not None and int(scale) != m_scale:
        raise ConfigError(f"scale={scale} requested but the model up-scales by {m_scale}")

    dtype = arr.dtype
    c = arr.shape[2]
    alpha = None
    if c in (2, 4):
        alpha, arr = arr[:, :, -1:], arr[:, :, :-1]
    x = _to_float(arr)
    color = x.shape[2]
    ycc = None
    if color == m_channels:
        model_in = x
    elif m_channels == 3 and color == 1:
        if task == "demosaic":
            model_in = _bayer_from_raw(x)
        else:
            warnings.warn(
                "gray image given to a colour model: repeating it to RGB (output is RGB)",
                stacklevel=2,
            )
            model_in = np.repeat(x, 3, axis=2)
    elif m_channels == 1 and color == 3:
        if task == "car":
            ycc = _rgb_to_ycbcr(x)
            model_in = ycc[:, :, :1]
        else:
            warnings.warn(
                "colour image given to a gray model: converting it to gray with Matlab "
                "rgb2gray (output is gray)",
                stacklevel=2,
            )
            model_in = _rgb_to_gray(x)
    else:
        raise ConfigError(f"the model takes {m_channels} channels; cannot use a {color}-channel image")

    if ensemble and task == "demosaic":
        warnings.warn(
            "self-ensemble changes the Bayer layout the demosaic model sees (GRBG becomes "
            "other patterns); results may be worse than without it",
            stacklevel=2,
        )
    gpu = device is not None and device.lower() == "gpu"
    try:
        if device is not None:
            import tensorflow as tf

            with tf.device("/GPU:0" if gpu else "/CPU:0"):
                y = restore_array(
                    model, model_in, tile=tile, overlap=overlap, ensemble=ensemble,
                    max_memory=max_memory, progress=progress, gpu=gpu,
                )
        else:
            y = restore_array(
                model, model_in, tile=tile, overlap=overlap, ensemble=ensemble,
                max_memory=max_memory, progress=progress,
            )
    except RNANError:
        raise
    except MemoryError:
        raise ConfigError(
            "out of memory; use a smaller tile or --max-memory / max_memory"
        ) from None

    if ycc is not None:
        y = _ycbcr_to_rgb(np.concatenate([y, ycc[:, :, 1:]], axis=2))
    if alpha is not None:
        y = np.concatenate([np.clip(y, 0, 255), _upscale_alpha(_to_float(alpha), m_scale)], axis=2)
    out = _from_float(y, dtype)

    if kind == "pil":
        return _to_pil(out)
    if kind == "array" and info.get("squeeze") and out.shape[2] == 1:
        out = out[:, :, 0]
    if kind == "path" and output is not None:
        from rnan_keras.data.image_io import write_image

        return write_image(output, out)
    return out


def _to_pil(arr: np.ndarray):
    from PIL import Image

    c = arr.shape[2]
    if arr.dtype == np.uint16:
        if c == 1:
            return Image.fromarray(np.ascontiguousarray(arr[:, :, 0]))  # mode I;16
        # A 16-bit gray PIL image given to a colour model: PIL has no 16-bit colour mode.
        warnings.warn(
            "PIL cannot hold 16-bit colour images: the result is reduced to 8 bits "
            "(pass a numpy array to keep 16 bits)",
            stacklevel=3,
        )
        arr = np.floor(arr.astype(np.float64) / 257.0 + 0.5).astype(np.uint8)
    if arr.dtype != np.uint8:
        arr = np.floor(np.clip(arr, 0, 255) + 0.5).astype(np.uint8)
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[c]
    return Image.fromarray(arr[:, :, 0] if c == 1 else arr, mode=mode)
