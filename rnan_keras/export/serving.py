"""The serving graph that every export format is made from.

``serving_default(image)`` takes ``image``: ``(B, H, W, C)`` NHWC, float32 on 0-255 (or
uint8 with ``uint8=True``), with B, H and W dynamic, and returns ``{"output": ...}`` of shape
``(B, s*H, s*W, C)`` (``s`` the SR scale), float32 on 0-255 (not clipped), or uint8 rounded
half-to-even and clipped to [0, 255] inside the graph with ``uint8=True``.

Inside: odd sizes are padded to even and cropped back (as the Keras model does), and the
network runs on fixed-size tiles (see :mod:`rnan_keras.export.tiling`), with its non-local
blocks forced to the dense path so the graph holds no data-dependent branch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from rnan_keras.errors import ExportError
from rnan_keras.export.tiling import DEFAULT_OVERLAP, DEFAULT_TILE, check_tiling, tiled_forward

INPUT_NAME = "image"
OUTPUT_NAME = "output"
SIGNATURE_KEY = "serving_default"


@dataclass(frozen=True)
class ServingSpec:
    """How the exported graph is built.

    Attributes:
        tile: tile side in input pixels (even), or None for whole-image inference (memory
            then grows as ``(H * W)^2`` in the non-local blocks).
        overlap: pixels shared by neighbouring tiles (even, < tile).
        uint8: uint8 input and output (rounded and clipped in the graph) instead of float32.
    """

    tile: int | None = DEFAULT_TILE
    overlap: int = DEFAULT_OVERLAP
    uint8: bool = False

    def __post_init__(self) -> None:
        try:
            check_tiling(self.tile, self.overlap)
        except ValueError as exc:
            raise ExportError(str(exc)) from None

    @property
    def dtype(self) -> str:
        return "uint8" if self.uint8 else "float32"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def model_info(model: keras.Model) -> dict[str, Any]:
    """``variant``, ``n_colors``, ``scale`` and ``config`` of an RNAN model (or a bare one)."""
    cfg = getattr(model, "rnan_config", None)
    if cfg is not None:
        return {
            "variant": cfg.variant,
            "n_colors": int(cfg.n_colors),
            "scale": int(cfg.scale),
            "config": cfg.to_dict(),
        }
    shape = model.input_shape
    return {"variant": None, "n_colors": int(shape[-1]), "scale": 1, "config": None}


def core_model(model: keras.Model) -> keras.Model:
    """The network between the model's ``pad`` and ``crop`` layers, dense non-local.

    ``(B, h, w, C)`` with even h, w -> ``(B, s*h, s*w, C)``. For a model without those
    layers the model itself is returned (it must then accept the tiles it is given).
    """
    cfg = getattr(model, "rnan_config", None)
    if cfg is not None and cfg.non_local_mode != "dense":
        from rnan_keras.models.rnan import with_non_local_mode

        model = with_non_local_mode(model, "dense")
    names = {layer.name for layer in model.layers}
    if not {"pad", "crop"} <= names:
        return model
    crop_inputs = model.get_layer("crop").input
    return keras.Model(model.get_layer("pad").output, crop_inputs[0], name=f"{model.name}_core")


class _Untracked:
    """Holds objects that ``tf.saved_model.save`` must not serialise (the Keras model)."""

    def __init__(self, **items: Any) -> None:
        self.__dict__.update(items)


class ServingModule(tf.Module):
    """A ``tf.Module`` holding the network's weights and the ``serve`` function.

    Only the weight variables are tracked (saving the Keras model object as well would
    trace every layer again and triple the SavedModel export time).
    """

    def __init__(self, model: keras.Model, spec: ServingSpec) -> None:
        super().__init__(name="rnan_serving")
        info = model_info(model)
        self.spec = spec
        self.n_colors = info["n_colors"]
        self.scale = info["scale"]
        core = core_model(model)
        self.pad_mode = getattr(model.get_layer("pad"), "mode", "SYMMETRIC")
        self._keras = _Untracked(core=core)
        self.weights = [getattr(w, "value", w) for w in core.weights]
        dtype = tf.uint8 if spec.uint8 else tf.float32
        signature = tf.TensorSpec([None, None, None, self.n_colors], dtype, name=INPUT_NAME)
        self.serve = tf.function(self._serve, input_signature=[signature], autograph=False)

    @property
    def core(self) -> keras.Model:
        """The Keras network run on each tile (see :func:`core_model`)."""
        return self._keras.core

    def forward(self, image: tf.Tensor) -> tf.Tensor:
        """Float32 0-255 ``(B, H, W, C)`` -> float32 ``(B, s*H, s*W, C)`` (no rounding)."""
        return tiled_forward(
            lambda t: self.core(t, training=False),
            image,
            tile=self.spec.tile,
            overlap=self.spec.overlap,
            scale=self.scale,
            channels=self.n_colors,
            pad_mode=self.pad_mode,
        )

    def _serve(self, image: tf.Tensor) -> dict[str, tf.Tensor]:
        y = self.forward(tf.cast(image, tf.float32))
        if self.spec.uint8:
            y = tf.cast(tf.clip_by_value(tf.round(y), 0.0, 255.0), tf.uint8)
        return {OUTPUT_NAME: y}

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Run the serving function on a numpy batch."""
        return self.serve(tf.convert_to_tensor(image))[OUTPUT_NAME].numpy()


def expected_output(model: keras.Model, image: np.ndarray, spec: ServingSpec) -> np.ndarray:
    """What an export of ``model`` must return for ``image``, computed by the Keras model.

    This is :func:`rnan_keras.inference.tiling.predict_tiled` (the tiled inference of
    ``rnan restore``) with the export's tile and overlap: the plain Keras model for images
    no larger than the tile. An implementation independent of the exported graph.
    """
    from rnan_keras.inference.tiling import predict_tiled

    info = model_info(model)
    x = np.asarray(image, dtype=np.float32)
    y = predict_tiled(model, x, spec.tile, spec.overlap, scale=info["scale"])
    if spec.uint8:
        y = np.clip(np.round(y), 0, 255).astype(np.uint8)
    return np.asarray(y, dtype=np.uint8 if spec.uint8 else np.float32)
