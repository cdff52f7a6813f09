"""TensorBoard summaries written with core TensorFlow only.

``tf.summary.scalar`` / ``tf.summary.image`` need the ``tensorboard`` package, which the
``tensorflow-cpu`` wheel does not install; these helpers write the same event records
(scalars and PNG images, readable by TensorBoard) through ``tf.summary.write``.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2


def _metadata(plugin: str) -> bytes:
    meta = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin, content=b"")
    )
    return meta.SerializeToString()


_SCALAR, _IMAGE = _metadata("scalars"), _metadata("images")


def write_scalar(name: str, value: float, step: int) -> None:
    """A scalar record under the default writer (``with writer.as_default():``)."""
    tf.summary.write(name, tf.constant(float(value), tf.float32), step=int(step),
                     metadata=_SCALAR)


def write_image(name: str, images: np.ndarray, step: int) -> None:
    """PNG image records of ``images`` [N, H, W, C] in [0, 1] (C = 1 or 3)."""
    images = np.asarray(images)
    data = np.clip(np.round(images * 255.0), 0, 255).astype(np.uint8)
    pngs = [tf.io.encode_png(img) for img in data]
    h, w = data.shape[1:3]
    tensor = tf.stack([tf.as_string(w), tf.as_string(h), *pngs])
    tf.summary.write(name, tensor, step=int(step), metadata=_IMAGE)
