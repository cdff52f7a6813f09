"""TensorFlow where it is the Keras backend, ``keras.ops`` elsewhere.

The layers use TensorFlow ops under the TensorFlow backend (dynamic ``H, W`` under
``tf.function``, the chunked attention's ``tf.custom_gradient``, export to SavedModel /
TFLite / ONNX). Under another Keras backend (JAX or PyTorch, e.g. to train on an accelerator
without a TensorFlow build for it) they run a ``keras.ops`` path with static shapes, and
TensorFlow need not be installed: ``tf`` is then ``None``.
"""

from __future__ import annotations

import keras

try:
    import tensorflow as tf
except ImportError:  # a JAX / PyTorch installation without TensorFlow
    tf = None


def is_tensorflow() -> bool:
    """Whether Keras runs on TensorFlow (the layers then use their ``tf`` paths)."""
    return keras.backend.backend() == "tensorflow"


def depth_to_space(x, r: int):
    """``tf.nn.depth_to_space`` in ``keras.ops``: ``(B, H, W, r*r*C) -> (B, rH, rW, C)``,
    output ``[b, h*r + i, w*r + j, c] = x[b, h, w, (i*r + j)*C + c]``. Static shapes."""
    b, h, w, c = keras.ops.shape(x)
    c_out = c // (r * r)
    y = keras.ops.reshape(x, (b, h, w, r, r, c_out))
    y = keras.ops.transpose(y, (0, 1, 3, 2, 4, 5))
    return keras.ops.reshape(y, (b, h * r, w * r, c_out))
