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

``ensemble=True`` averages the 8 flips / rotations (the paper's RNAN+), ``ensemble=2`` or
``4`` the first 2 or 4 of them (:func:`~rnan_keras.inference.ensemble.ensemble_views`); for
a demosaic model each view is first brought back to its GRBG layout by a mirrored row / column
(:func:`~rnan_keras.inference.ensemble.bayer_self_ensemble`).
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from rnan_keras.data import image_io
from rnan_keras.data.color import rgb_to_gray, rgb_to_ycbcr, ycbcr_to_rgb
from rnan_keras.data.mosaic import bayer_from_raw
from rnan_keras.errors import ConfigError
from rnan_keras.inference import memory
from rnan_keras.inference.ensemble import (
    bayer_self_ensemble,
    bayer_views,
    ensemble_views,
    self_ensemble,
)
from rnan_keras.inference.memory import resolve_tile  # noqa: F401 -- re-exported
from rnan_keras.inference.tiling import (
    count_tiles,
    model_function,
    model_scale,
    predict_tiled,
    progress_bar,
)
from rnan_keras.models.resolve import (  # noqa: F401 -- re-exported: the one model resolver
    check_degradation_settings,
    load_model_file,
    load_preset_model,
    model_channels,
    model_spec,
    resolve_model,
)


def restore_array(
    model,
    x: np.ndarray,
    *,
    tile: int | str | None = "auto",
    overlap: int = memory.DEFAULT_OVERLAP,
    ensemble: bool | int = False,
    max_memory: str | float | None = None,
    progress: bool | None = None,
    gpu: bool = False,
) -> np.ndarray:
    """Run ``model`` on one float32 ``(H, W, C)`` 0-255 image (tiled, optionally a
    self-ensemble of ``ensemble`` views: True = 8, or 2 / 4, see ``ensemble_views``).

    ``C`` must be the model's channel count. Returns ``(s*H, s*W, C_out)`` float32,
    not clipped.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    h, w, c = x.shape
    scale = model_scale(model, c)
    tile_size, runner = memory.resolve_tile(
        model, h, w, tile, max_memory=max_memory, c_in=c, c_out=c, scale=scale, gpu=gpu,
        overlap=overlap,
    )
    per_call = memory.tiles_per_call(
        runner, h, w, tile_size, max_memory=max_memory, c_in=c, c_out=c, scale=scale, gpu=gpu,
    )
    views = ensemble_views(ensemble)
    bayer = len(views) > 1 and model_spec(model).bayer_input
    if bayer:  # views with a mirrored row / column are a pixel larger
        total = sum(count_tiles(vh, vw, tile_size, overlap)
                    for *_, vh, vw in bayer_views(h, w, transforms=views))
    else:
        total = count_tiles(h, w, tile_size, overlap) * len(views)
    predict = model_function(runner)
    with progress_bar(total, progress) as bar:

        def one(view: np.ndarray) -> np.ndarray:
            return predict_tiled(
                runner, view, tile_size, overlap, scale=scale, predict=predict,
                progress=bar.update, tiles_per_call=per_call,
            )

        if bayer:
            return bayer_self_ensemble(one, x, transforms=views)
        if len(views) > 1:
            return self_ensemble(one, x, transforms=views)
        return one(x)


def restore(
    image: Any,
    model_or_preset: Any,
    *,
    sigma: float | None = None,
    quality: int | None = None,
    scale: int | None = None,
    tile: int | str | None = "auto",
    ensemble: bool | int = False,
    overlap: int = memory.DEFAULT_OVERLAP,
    max_memory: str | float | None = None,
    progress: bool | None = None,
    max_pixels: int | None = None,
    output: str | os.PathLike | None = None,
    device: str | None = None,
) -> Any:
    """Restore ``image`` (path, PIL image or numpy array) with a model, ``.keras`` file or preset.

    Returns the restored image, of the same kind as ``image`` (see the module docstring).
    ``sigma`` / ``quality`` (0-255 noise level / JPEG quality of the input) never change the
    model: :func:`check_degradation_settings` refuses one the model's task does not take and
    warns when it is outside a preset's trained range. ``scale`` is checked against the
    model's. ``tile``: ``"auto"`` (fits ``max_memory``, see :mod:`~rnan_keras.inference.memory`),
    an int (tile side in input pixels, tiles ``overlap`` pixels apart) or ``"none"``.
    ``ensemble``: average the 8 flips / rotations (True or 8: RNAN+, 8x slower) or 2 / 4 of
    them (2x / 4x slower). ``progress``: a tqdm bar over tiles (default when stderr is a
    terminal). ``max_pixels``: refuse larger images
    (before decoding files). ``output``: for a path, also write the result there atomically
    and return that path. ``device``: ``"cpu"`` / ``"gpu"`` pins the computation. Raises
    InvalidImageError / ImageReadError (bad input), ConfigError / ModelLoadError (bad model).
    """
    ensemble_views(ensemble)  # a bad setting fails before any work
    arr, kind, squeeze = image_io.image_from_input(image, max_pixels)
    model = resolve_model(model_or_preset)
    for note in check_degradation_settings(model, sigma=sigma, quality=quality):
        warnings.warn(note, stacklevel=2)
    m_scale = model_scale(model, model_channels(model))
    if scale is not None and int(scale) != m_scale:
        raise ConfigError(f"scale={scale} requested but the model up-scales by {m_scale}")
    alpha = image_io.to_float(arr[:, :, -1:]) if arr.shape[2] in (2, 4) else None
    x = image_io.to_float(arr[:, :, :-1] if alpha is not None else arr)
    model_in, ycc = _model_input(model, x)
    gpu = device is not None and device.lower() == "gpu"
    try:
        y = _run_on(device, lambda: restore_array(
            model, model_in, tile=tile, overlap=overlap, ensemble=ensemble,
            max_memory=max_memory, progress=progress, gpu=gpu,
        ))
    except MemoryError:
        raise ConfigError("out of memory; use a smaller tile or --max-memory / max_memory") from None
    if ycc is not None:
        y = np.asarray(ycbcr_to_rgb(np.concatenate([y, ycc[:, :, 1:]], axis=2)), np.float32)
    if alpha is not None:
        y = np.concatenate([np.clip(y, 0, 255), image_io.upscale_alpha(alpha, m_scale)], axis=2)
    out = image_io.from_float(y, arr.dtype)
    if kind == "pil":
        return image_io.to_pil(out)
    if kind == "path" and output is not None:
        return image_io.write_image(output, out)
    return out[:, :, 0] if squeeze and out.shape[2] == 1 else out


def _run_on(device: str | None, fn):
    """``fn()`` pinned to ``device`` (``cpu`` / ``gpu``), or where TensorFlow puts it."""
    if device is None:
        return fn()
    import tensorflow as tf

    with tf.device("/GPU:0" if device.lower() == "gpu" else "/CPU:0"):
        return fn()


def _model_input(model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(what the model takes, YCbCr of the input for a car model on colour) from float ``x``.

    Applies the colour handling of the module docstring, warning where it converts.
    """
    m_channels, spec, color = model_channels(model), model_spec(model), x.shape[2]
    if color == m_channels:
        return x, None
    if m_channels == 3 and color == 1:
        if spec.bayer_input:
            return bayer_from_raw(x), None
        warnings.warn(
            "gray image given to a colour model: repeating it to RGB (output is RGB)",
            stacklevel=3,
        )
        return np.repeat(x, 3, axis=2), None
    if m_channels == 1 and color == 3:
        if spec.gray_is_y:
            ycc = np.asarray(rgb_to_ycbcr(x), np.float32)
            return ycc[:, :, :1], ycc
        warnings.warn(
            "colour image given to a gray model: converting it to gray with Matlab "
            "rgb2gray (output is gray)",
            stacklevel=3,
        )
        return np.asarray(rgb_to_gray(x), np.float32), None
    raise ConfigError(f"the model takes {m_channels} channels; cannot use a {color}-channel image")
