"""Degradations as serialisable Keras preprocessing layers (TensorFlow backend).

Put one in front of a model to train on clean images only, the degradation running inside
``fit`` on the accelerator (JPEG runs on the host CPU)::

    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, rnan(AddGaussianNoise(sigma=(0, 50))(inputs)))
    model.fit(clean_patches, clean_patches)

All layers take NHWC float32 images on the 0-255 scale and accept any H and W. The random
layers (:class:`AddGaussianNoise`, :class:`JpegCompression`) draw new randomness on every
call from a ``keras.random.SeedGenerator`` (seeded by ``seed``); with
``training_only=True`` they return the input unchanged outside training.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import tensorflow as tf

from rnan_keras.data.color import rgb_to_gray, rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb
from rnan_keras.data.jpeg import jpeg_compress
from rnan_keras.data.mosaic import BAYER_PATTERNS, bayer_mosaic
from rnan_keras.data.noise import add_gaussian_noise, sample_per_image
from rnan_keras.data.resize import imresize
from rnan_keras.errors import ConfigError


def _value_or_range(value, name: str, cast=float):
    if isinstance(value, list | tuple):
        if len(value) != 2 or value[0] > value[1]:
            raise ConfigError(f"{name} range must be [low, high] with low <= high, got {value}")
        return [cast(value[0]), cast(value[1])]
    return cast(value)


class _RandomDegradation(keras.layers.Layer):
    """Shared seed handling of the random degradation layers."""

    def __init__(self, seed: int | None = None, training_only: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self.training_only = bool(training_only)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _draw_seed(self) -> tf.Tensor:
        return keras.random.randint((2,), 0, 2**30, seed=self.seed_generator, dtype="int32")

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed, "training_only": self.training_only}


@keras.saving.register_keras_serializable(package="rnan_keras")
class AddGaussianNoise(_RandomDegradation):
    """Additive white Gaussian noise, ``(B, H, W, C) -> (B, H, W, C)``, 0-255 scale.

    Args:
        sigma: noise level on the 0-255 scale, or ``[low, high]`` drawn uniformly per image.
        clip, round_values: clip to [0, 255] / round the result (off: DnCNN/RNAN protocol).
        seed: seed of the layer's generator (``None``: random).
        training_only: identity when called with ``training=False``.
    """

    def __init__(self, sigma: float | list[float] = 25.0, clip: bool = False,
                 round_values: bool = False, seed: int | None = None,
                 training_only: bool = False, **kwargs: Any) -> None:
        super().__init__(seed=seed, training_only=training_only, **kwargs)
        self.sigma = _value_or_range(sigma, "sigma")
        self.clip = bool(clip)
        self.round_values = bool(round_values)

    def call(self, x, training=None):
        if self.training_only and not training:
            return x
        seed = self._draw_seed()
        if isinstance(self.sigma, list):
            draw, op = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
            sigma = sample_per_image(tf.shape(x)[0], self.sigma[0], self.sigma[1], draw)
        else:
            sigma, op = self.sigma, seed
        return add_gaussian_noise(x, sigma, seed=op, clip=self.clip,
                                  round_values=self.round_values)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "sigma": self.sigma, "clip": self.clip,
                "round_values": self.round_values}


@keras.saving.register_keras_serializable(package="rnan_keras")
class JpegCompression(_RandomDegradation):
    """JPEG encode+decode identical to Pillow, ``(B, H, W, C) -> (B, H, W, C)``, C in {1, 3}.

    Runs on the CPU (TensorFlow has no GPU JPEG kernel). Values are rounded to uint8 first.

    Args:
        quality: JPEG quality 1-100, or an inclusive ``[low, high]`` range drawn per image.
        seed, training_only: as :class:`AddGaussianNoise`.
    """

    def __init__(self, quality: int | list[int] = 20, seed: int | None = None,
                 training_only: bool = False, **kwargs: Any) -> None:
        super().__init__(seed=seed, training_only=training_only, **kwargs)
        self.quality = _value_or_range(quality, "quality", int)
        qs = self.quality if isinstance(self.quality, list) else [self.quality]
        if not all(1 <= q <= 100 for q in qs):
            raise ConfigError(f"JPEG quality must be in 1..100, got {quality}")

    def call(self, x, training=None):
        if self.training_only and not training:
            return x
        if isinstance(self.quality, list):
            quality = sample_per_image(tf.shape(x)[0], self.quality[0], self.quality[1],
                                       self._draw_seed(), tf.int32)
        else:
            quality = self.quality
        return jpeg_compress(x, quality)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "quality": self.quality}


@keras.saving.register_keras_serializable(package="rnan_keras")
class BayerMosaic(keras.layers.Layer):
    """Bayer CFA sampling, ``(B, H, W, 3) -> (B, H, W, 3)`` zero-filled or ``(B, H, W, 1)``.

    Args:
        pattern: ``RGGB``, ``BGGR``, ``GRBG`` (RNAN) or ``GBRG``.
        packed: return the 1-channel raw CFA image instead of the 3-channel mosaic.
    """

    def __init__(self, pattern: str = "GRBG", packed: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if pattern.upper() not in BAYER_PATTERNS:
            raise ConfigError(f"unknown Bayer pattern {pattern!r}; expected {BAYER_PATTERNS}")
        self.pattern = pattern.upper()
        self.packed = bool(packed)

    def call(self, x):
        return bayer_mosaic(x, self.pattern, packed=self.packed)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], 1 if self.packed else 3)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "pattern": self.pattern, "packed": self.packed}


@keras.saving.register_keras_serializable(package="rnan_keras")
class MatlabBicubicResize(keras.layers.Layer):
    """Matlab ``imresize`` bicubic, ``(B, H, W, C) -> (B, ceil(H*s), ceil(W*s), C)``.

    Args:
        scale: resize factor (``0.25`` down-scales by 4 with antialiasing, ``2`` up-scales).
        antialias: Matlab's antialiasing when down-scaling.
        quantize: emulate Matlab on uint8 input (round + clip after each pass).
    """

    def __init__(self, scale: float = 0.5, antialias: bool = True, quantize: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not scale > 0:
            raise ConfigError(f"scale must be positive, got {scale}")
        self.scale = float(scale)
        self.antialias = bool(antialias)
        self.quantize = bool(quantize)

    def call(self, x):
        return imresize(x, self.scale, antialias=self.antialias, quantize=self.quantize)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        b, h, w, c = input_shape
        size = [None if d is None else math.ceil(d * self.scale) for d in (h, w)]
        return (b, *size, c)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": self.scale, "antialias": self.antialias,
                "quantize": self.quantize}


_CONVERSIONS = {
    "rgb_to_gray": (rgb_to_gray, 1),
    "rgb_to_y": (rgb_to_y, 1),
    "rgb_to_ycbcr": (rgb_to_ycbcr, 3),
    "ycbcr_to_rgb": (ycbcr_to_rgb, 3),
}


@keras.saving.register_keras_serializable(package="rnan_keras")
class ColorConversion(keras.layers.Layer):
    """Matlab colour conversion: ``rgb_to_gray``/``rgb_to_y`` (3 -> 1 channel),
    ``rgb_to_ycbcr``/``ycbcr_to_rgb`` (3 -> 3), 0-255 scale, unrounded unless ``round``."""

    def __init__(self, mode: str = "rgb_to_y", round_values: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in _CONVERSIONS:
            raise ConfigError(f"unknown colour conversion {mode!r}; expected {list(_CONVERSIONS)}")
        self.mode = mode
        self.round_values = bool(round_values)

    def call(self, x):
        y = _CONVERSIONS[self.mode][0](x)
        if self.round_values:
            y = tf.floor(tf.clip_by_value(y, 0.0, 255.0) + 0.5)
        return y

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], _CONVERSIONS[self.mode][1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode, "round_values": self.round_values}
