"""ONNX export with tf2onnx (opset 17 or 18), checked with ``onnx.checker``.

The graph keeps NHWC: input ``image`` ``(B, H, W, C)`` and output ``output``, all three
leading dimensions symbolic. The tile loop becomes an ONNX ``Loop``. Runs in onnxruntime
on the CPU provider (and in other ONNX runtimes).

Conversion speed: tf2onnx's full optimizer list deep-copies the graph (loop body included)
for each pass, which makes conversion ~5x slower; only the passes that matter are run
(transpose removal around the NHWC convolutions, constant folding, identity removal), and
onnxruntime applies its own graph optimisations when a session is created.
"""

from __future__ import annotations

import contextlib
import os
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from rnan_keras.errors import ConfigError, ExportError
from rnan_keras.export.serving import INPUT_NAME, OUTPUT_NAME, ServingModule

#: tf2onnx 1.17 converts this graph correctly up to opset 18 (opset 19 fails).
OPSETS: tuple[int, ...] = (17, 18)
DEFAULT_OPSET = 17
OPTIMIZERS: tuple[str, ...] = ("optimize_transpose", "fold_constants", "remove_identity")


def check_opset(opset: int) -> int:
    if int(opset) not in OPSETS:
        raise ConfigError(f"ONNX opset must be one of {OPSETS} (tf2onnx 1.17), got {opset}")
    return int(opset)


@contextlib.contextmanager
def _no_optimizer_deepcopy() -> Iterator[None]:
    """Make tf2onnx raise optimizer errors instead of deep-copying the graph per pass."""
    key = "TF2ONNX_CATCH_ERRORS"
    old = os.environ.get(key)
    os.environ[key] = "FALSE"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


def convert(serving: ServingModule, opset: int = DEFAULT_OPSET):
    """The checked ``onnx.ModelProto`` of ``serving.serve``."""
    import onnx
    import tf2onnx
    from tf2onnx import optimizer, tf_loader
    from tf2onnx.convert import _convert_common, tensor_names_from_structed

    opset = check_opset(opset)
    func = serving.serve.get_concrete_function()
    inputs = [t.name for t in func.inputs if t.dtype != tf.resource]
    outputs = [t.name for t in func.outputs if t.dtype != tf.resource]
    passes = OrderedDict((k, v) for k, v in optimizer._get_optimizers().items() if k in OPTIMIZERS)
    with tf.device("/cpu:0"):
        frozen = tf_loader.from_function(func, inputs, outputs)
    with _no_optimizer_deepcopy():
        model, _ = _convert_common(
            frozen,
            name="rnan",
            continue_on_error=False,
            opset=opset,
            input_names=inputs,
            output_names=outputs,
            tensors_to_rename=tensor_names_from_structed(func, inputs, outputs),
            optimizers=passes,
        )
    model.producer_name = f"rnan_keras (tf2onnx {tf2onnx.__version__})"
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"onnx.checker rejected the converted model: {exc}") from None
    return model


def write(
    serving: ServingModule, path: Path, *, opset: int = DEFAULT_OPSET, **options: Any
) -> dict[str, Any]:
    """Convert ``serving`` and write the ``.onnx`` file to ``path``."""
    import onnx
    import onnxruntime
    import tf2onnx

    model = convert(serving, opset)
    path.write_bytes(model.SerializeToString())
    return {
        "tensorflow": tf.__version__,
        "tf2onnx": tf2onnx.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "opset": check_opset(opset),
    }


class Runner:
    """An onnxruntime ``InferenceSession`` on the CPU execution provider."""

    def __init__(self, path: str | Path, num_threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = int(num_threads)
        self.session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        kind = self.session.get_inputs()[0].type  # e.g. "tensor(float)"
        self.input_dtype = np.dtype(np.uint8 if "uint8" in kind else np.float32)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        image = np.ascontiguousarray(image, dtype=self.input_dtype)
        return self.session.run([OUTPUT_NAME], {INPUT_NAME: image})[0]


def load(path: str | Path, num_threads: int | None = None) -> Runner:
    """Open the ``.onnx`` file at ``path`` in onnxruntime (CPU provider)."""
    return Runner(path, num_threads)
