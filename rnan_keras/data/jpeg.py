"""JPEG compression with TensorFlow's libjpeg-turbo, identical to Pillow's encoder.

``jpeg_compress`` encodes with ``EncodeJpegVariableQuality`` (baseline, standard IJG tables
scaled by quality, 4:2:0 chroma subsampling for colour, as Pillow's ``Image.save(...,
quality=q)``) and decodes with ``dct_method="INTEGER_ACCURATE"`` and fancy upsampling (as
Pillow's decoder). The decoded pixels equal Pillow's encode+decode exactly (see
``tests/data/test_jpeg.py``). Only TensorFlow's *default* decode (``INTEGER_FAST`` on some
builds) or ``fancy_upscaling=False`` would differ.

JPEG ops have no GPU kernel: the work is pinned to the CPU with ``tf.device("/CPU:0")``, so
the function also runs (on the host) inside a ``tf.function`` placed on an accelerator.
"""

from __future__ import annotations

import tensorflow as tf

from rnan_keras.data._common import as_float_image, check_jpeg_quality, to_uint8_values
from rnan_keras.errors import InvalidImageError


def _jpeg_one(image: tf.Tensor, quality: tf.Tensor) -> tf.Tensor:
    pixels = tf.cast(to_uint8_values(image), tf.uint8)
    channels = image.shape[-1]
    encoded = tf.raw_ops.EncodeJpegVariableQuality(images=pixels, quality=quality)
    decoded = tf.io.decode_jpeg(encoded, channels=channels or 0,
                                dct_method="INTEGER_ACCURATE", fancy_upscaling=True)
    decoded = tf.reshape(decoded, tf.shape(pixels))
    return tf.cast(decoded, tf.float32)


def jpeg_compress(x, quality) -> tf.Tensor:
    """JPEG-encode and decode images (runs on the CPU).

    Args:
        x: [H, W, C] or [B, H, W, C] float image, 0-255, C = 1 (gray) or 3 (RGB). Values are
            clipped to [0, 255] and rounded to uint8 first (as Matlab's/Pillow's writers do).
        quality: JPEG quality 1-100: an int, a scalar int tensor, or a [B] int tensor with
            one quality per image of the batch.

    Returns:
        Float32 tensor with the shape of ``x`` and integer values.
    """
    check_jpeg_quality(quality)
    x = as_float_image(x)
    if x.shape[-1] not in (None, 1, 3):
        raise InvalidImageError(f"jpeg_compress expects 1 or 3 channels, got shape {x.shape}")
    quality = tf.cast(tf.convert_to_tensor(quality), tf.int32)
    with tf.device("/CPU:0"):
        if x.shape.rank == 3:
            return _jpeg_one(x, tf.reshape(quality, []))
        batch = tf.shape(x)[0]
        quality = tf.broadcast_to(tf.reshape(quality, [-1]), [batch])
        return tf.map_fn(lambda args: _jpeg_one(args[0], args[1]), (x, quality),
                         fn_output_signature=tf.TensorSpec(x.shape[1:], tf.float32))
