"""Degradations synthesised with TensorFlow ops, and the per-task dispatcher :func:`degrade`.

All functions take float32 images on the 0-255 scale, shaped [H, W, C] or [B, H, W, C], and
work in ``tf.data`` and in a ``tf.function`` (libjpeg JPEG is pinned to the CPU; with
``jpeg="tf"`` every degradation is plain tensor ops that run on any device and compile with
XLA). The building blocks live in one module per concept and are re-exported here:

- :func:`add_gaussian_noise` (:mod:`.noise`) -- AWGN, fixed or per-image sigma, seeded.
- :func:`rgb_to_gray`, :func:`rgb_to_ycbcr`, :func:`ycbcr_to_rgb`, :func:`rgb_to_y`
  (:mod:`.color`) -- Matlab ``rgb2gray`` / ``rgb2ycbcr`` (BT.601, 16-235).
- :func:`bayer_mosaic` (:mod:`.mosaic`) -- RGGB/BGGR/GRBG/GBRG, zero-filled or packed.
- :func:`jpeg_compress` (:mod:`.jpeg`) -- identical to Pillow encode+decode (libjpeg, CPU);
  :func:`jpeg_compress_tf` (:mod:`.jpeg_ops`) -- the same round trip in tensor ops.
- :func:`imresize` (:mod:`.resize`) -- Matlab bicubic with antialiasing.

Protocol used by :func:`degrade`, per task kind (the tasks are those of
:mod:`rnan_keras.tasks`):

========  ===========================================================================
dn        clean with the task's channels; AWGN added in float, not rounded nor clipped
          (DnCNN/RNAN), independent per channel
demosaic  3-channel clean; GRBG zero-filled 3-channel mosaic
car       1-channel clean = rounded Matlab Y of the RGB image; JPEG of that gray image
sr        3-channel clean HR; Matlab bicubic 1/N on uint8 (quantised, like the benchmarks)
========  ===========================================================================

:func:`prepare_clean` maps any decoded image to the clean target of a task (gray via
``rgb2gray``, Y via ``rgb2ycbcr``, both rounded as Matlab does on uint8; gray images are
repeated to 3 channels for colour tasks).
"""

from __future__ import annotations

import tensorflow as tf

from rnan_keras.data._common import as_float_image, as_seed, round_half_away, to_uint8_values
from rnan_keras.data.color import rgb_to_gray, rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb
from rnan_keras.data.jpeg import jpeg_compress
from rnan_keras.data.jpeg_ops import jpeg_compress_tf
from rnan_keras.data.mosaic import BAYER_PATTERNS, bayer_mosaic
from rnan_keras.data.noise import add_gaussian_noise, sample_per_image
from rnan_keras.data.resize import imresize
from rnan_keras.errors import ConfigError, InvalidImageError
from rnan_keras.tasks import TASKS, Task, get_task

__all__ = [
    "BAYER_PATTERNS",
    "TASKS",
    "TaskInfo",
    "add_gaussian_noise",
    "bayer_mosaic",
    "degrade",
    "draw_setting",
    "get_task",
    "imresize",
    "jpeg_compress",
    "jpeg_compress_tf",
    "prepare_clean",
    "quantize",
    "rgb_to_gray",
    "rgb_to_y",
    "rgb_to_ycbcr",
    "round_half_away",
    "sample_per_image",
    "ycbcr_to_rgb",
]


#: Kept for callers of this module: the registry is :mod:`rnan_keras.tasks`.
TaskInfo = Task


def quantize(x) -> tf.Tensor:
    """Clip to [0, 255] and round halves up: the values a uint8 file would store."""
    return to_uint8_values(as_float_image(x))


def prepare_clean(task: str, image) -> tf.Tensor:
    """Map a decoded image (1, 3 or 4 channels, 0-255) to the clean target of ``task``.

    Gray tasks (``dn_gray``) use Matlab ``rgb2gray``, ``car`` uses the Matlab Y channel; both
    are rounded like Matlab on uint8. A 1-channel image is used as is for gray tasks and
    repeated to 3 channels for colour tasks; a 4th (alpha) channel is dropped.
    """
    info = get_task(task)
    x = as_float_image(image)
    c = x.shape[-1]
    if c is None:
        raise InvalidImageError("prepare_clean needs a known channel count")
    if c == 4:
        x = x[..., :3]
        c = 3
    if c == 2:  # gray + alpha
        x = x[..., :1]
        c = 1
    if c not in (1, 3):
        raise InvalidImageError(f"unsupported channel count {c}")
    if info.n_colors == 3:
        return x if c == 3 else tf.repeat(x, 3, axis=-1)
    if c == 1:
        return x
    return quantize(rgb_to_y(x) if info.gray_is_y else rgb_to_gray(x))


#: JPEG implementations of :func:`degrade`: libjpeg (exact, CPU) or tensor ops (any device).
JPEG_BACKENDS = ("libjpeg", "tf")


def draw_setting(task: str, value, batch, seed) -> tf.Tensor:
    """The task's setting (``sigma`` or ``quality``): ``value`` cast to its dtype, or, for a
    ``(low, high)`` range, ``batch`` values drawn uniformly (shape [B]; ints inclusive)."""
    setting = get_task(task).setting_spec
    dtype = tf.int32 if setting.integer else tf.float32
    if value is None:
        raise ConfigError(f"task {task!r} needs {setting.name} ({setting.help})")
    if isinstance(value, tuple | list):
        if len(value) != 2 or value[0] > value[1]:
            raise ConfigError(
                f"{setting.name} range must be (low, high) with low <= high, got {value}")
        return sample_per_image(batch, value[0], value[1], seed, dtype)
    return tf.cast(value, dtype)


def degrade(task: str, clean, *, sigma=None, quality=None, scale=None, seed=None,
            pattern: str = "GRBG", clip: bool = False, round_values: bool = False,
            jpeg: str = "libjpeg") -> tf.Tensor:
    """Degrade ``clean`` the way ``task`` expects its input.

    Args:
        task: ``dn_gray``, ``dn_rgb``, ``demosaic``, ``car`` or ``sr_xN``.
        clean: [H, W, C] or [B, H, W, C] float 0-255 with the task's channel count (see
            :func:`prepare_clean`): 1 for ``dn_gray``/``car``, 3 otherwise.
        sigma: noise level for ``dn_*`` (required): a number or a ``(low, high)`` range drawn
            uniformly per image.
        quality: JPEG quality for ``car`` (required): an int or an inclusive ``(low, high)``
            range drawn per image.
        scale: SR factor; defaults to the one in the task name (``sr_x4`` -> 4).
        seed: ``None`` (global RNG) or int / int tensor [2] for reproducible noise and draws,
            or an int tensor [B, 2] of per-image noise seeds (see
            :func:`~rnan_keras.data.noise.add_gaussian_noise`; sigma must then be given per
            image, not as a range).
        pattern: Bayer pattern for ``demosaic`` (RNAN uses GRBG).
        clip, round_values: for ``dn_*``, clip the noisy image to [0, 255] / round it (both
            off by default: the DnCNN/RNAN protocol adds noise in float).
        jpeg: ``"libjpeg"`` (Pillow-exact, runs on the CPU) or ``"tf"``
            (:func:`jpeg_compress_tf`: tensor ops on any device, XLA; within one level of
            libjpeg on >= 99 % of the pixels).

    Returns:
        Float32 degraded image: same shape as ``clean`` except for SR, where H and W are
        ``ceil(H / scale)`` and ``ceil(W / scale)``.
    """
    info = get_task(task)
    x = as_float_image(clean)
    c = x.shape[-1]
    if c is not None and c != info.n_colors:
        raise InvalidImageError(
            f"task {task!r} expects {info.n_colors}-channel clean images, got {c} channels; "
            "use prepare_clean() first"
        )
    if jpeg not in JPEG_BACKENDS:
        raise ConfigError(f"unknown JPEG backend {jpeg!r}; choose one of {JPEG_BACKENDS}")
    batch = tf.shape(x)[0] if x.shape.rank == 4 else 1
    per_image_seeds = seed is not None and tf.convert_to_tensor(seed).shape.rank == 2
    if per_image_seeds:
        draw_seed, op_seed = None, seed
    elif seed is not None:
        draw_seed, op_seed = tf.unstack(tf.random.experimental.stateless_split(as_seed(seed), 2))
    else:
        draw_seed = op_seed = None
    if info.setting is not None:  # dn takes sigma, car takes quality (see rnan_keras.tasks)
        value = sigma if info.setting == "sigma" else quality
        if per_image_seeds and isinstance(value, tuple | list):
            raise ConfigError("per-image seeds need per-image settings, not a range")
        v = draw_setting(task, value, batch, draw_seed)
        if x.shape.rank == 3 and v.shape.rank == 1:
            v = v[0]
        if info.jpeg_input:
            return jpeg_compress_tf(x, v) if jpeg == "tf" else jpeg_compress(x, v)
        return add_gaussian_noise(x, v, seed=op_seed, clip=clip, round_values=round_values)
    if info.bayer_input:
        return bayer_mosaic(x, pattern=pattern)
    factor = scale or info.scale
    return imresize(x, 1.0 / factor, quantize=True)
