"""Data: degradations synthesised with TensorFlow ops, image files and tf.data pipelines.

- :mod:`rnan_keras.data.degradations` -- AWGN, Matlab colour conversions, Bayer mosaic, JPEG,
  Matlab bicubic ``imresize`` and the task dispatcher :func:`~.degradations.degrade`.
- :mod:`rnan_keras.data.pipeline` -- ``make_dataset`` / ``make_eval_dataset`` (tf.data).
- :mod:`rnan_keras.data.image_io` -- reading and writing image files.

Images are float32 on the 0-255 scale, NHWC (or HWC for a single image). Submodules are not
imported here, so ``import rnan_keras.data`` does not import TensorFlow.
"""
