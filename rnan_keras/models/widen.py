"""Function-preserving widening of a trained RNAN (Net2WiderNet, Chen et al., ICLR 2016).

``widen(model, n_feats)`` returns a model with more feature channels that computes the same
function as ``model`` (to float32 round-off), so training a larger configuration can start
from a trained small one instead of from scratch. Every ``F``-channel tensor of RNAN (the
residual stream and every hidden conv output) gets the same channel map ``m``: new channel
``k`` is a copy of old channel ``m(k)`` (the first ``F`` are the old ones, the added ones are
drawn at random). The non-local inner space (``F // 2`` channels) gets its own map. Then
for every convolution:

- output channels are copied: ``W'[..., k] = W[..., m(k)]``, ``b'[k] = b[m(k)]``;
- input channels are split: ``W'[..., k, :] = W[..., m(k), :] * r_k``, where the factors of
  the copies of one old channel sum to one. They are drawn per weight (uniform 0.5-1.5,
  normalised), so the copies receive different gradients and do not stay identical;
- the non-local ``phi`` conv's copied output channels are scaled by per-channel factors that
  sum to one over the copies, so ``theta . phi`` (a sum over inner channels) is unchanged.

ReLU, sigmoid, the mask products and the residual additions act channel-wise, so they
commute with the copying. Scale-1 variants only (denoising, demosaicing, CAR): the SR
up-sampler's pixel shuffle groups channels differently.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from rnan_keras.layers.non_local import NonLocalBlock
from rnan_keras.layers.upsampler import Upsampler


def _leaf_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Layers that own weights directly, in build order (the same order for any width)."""
    out = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if layer.weights and not layer._flatten_layers(include_self=False, recursive=False):
            out.append(layer)
    return out


class _Widener:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.maps: dict[tuple[int, int], np.ndarray] = {}

    def channel_map(self, old: int, new: int) -> np.ndarray:
        """New channel -> old channel: identity on the first ``old``, then random copies."""
        if (old, new) not in self.maps:
            extra = self.rng.choice(old, new - old, replace=new - old > old)
            self.maps[(old, new)] = np.concatenate([np.arange(old), np.sort(extra)])
        return self.maps[(old, new)]

    def split(self, shape: tuple[int, ...], m: np.ndarray, axis: int) -> np.ndarray:
        """Random factors of ``shape`` that sum to one over the copies along ``axis``."""
        u = np.moveaxis(self.rng.uniform(0.5, 1.5, shape), axis, -1)
        onehot = np.eye(int(m.max()) + 1)[m]  # (new, old)
        sums = (u @ onehot) @ onehot.T
        return np.moveaxis(u / sums, -1, axis)

    def conv(self, kernel: np.ndarray, bias: np.ndarray | None, new_shape: tuple[int, ...],
             in_axis: int, out_axis: int, scale_out: bool) -> list[np.ndarray]:
        k = kernel.astype(np.float64)
        b = None if bias is None else bias.astype(np.float64)
        n_in, n_out = kernel.shape[in_axis], kernel.shape[out_axis]
        if new_shape[out_axis] != n_out:
            m = self.channel_map(n_out, new_shape[out_axis])
            k = np.take(k, m, axis=out_axis)
            b = None if b is None else b[m]
            if scale_out:
                s = self.split((len(m),), m, 0)
                k = k * s.reshape([-1 if a == out_axis else 1 for a in range(k.ndim)])
                b = None if b is None else b * s
        if new_shape[in_axis] != n_in:
            m = self.channel_map(n_in, new_shape[in_axis])
            k = np.take(k, m, axis=in_axis)
            k = k * self.split(k.shape, m, in_axis)
        return [k.astype(np.float32)] + ([] if b is None else [b.astype(np.float32)])


def widen_into(source: keras.Model, target: keras.Model, *, seed: int = 0) -> None:
    """Set ``target``'s weights so that it computes ``source``'s function.

    ``target`` must be the same architecture as ``source`` with at least as many feature
    channels (e.g. ``build_model(variant, **{**source_config, "n_feats": 32})``).

    Raises:
        ValueError: the layer structures differ, a layer shrinks, or the model up-samples.
        TypeError: a layer other than a convolution would change shape.
    """
    src, dst = _leaf_layers(source), _leaf_layers(target)
    if len(src) != len(dst):
        raise ValueError(f"cannot widen: {len(src)} weighted layers in the source, "
                         f"{len(dst)} in the target (different architectures)")
    layers = list(source._flatten_layers())
    if any(isinstance(layer, Upsampler) for layer in layers):
        raise ValueError("cannot widen an SR model (its up-sampler's pixel shuffle groups "
                         "channels differently); scale-1 variants only")
    phis = {id(layer.phi) for layer in layers if isinstance(layer, NonLocalBlock)}
    widener = _Widener(seed)
    for a, b in zip(src, dst, strict=True):
        old = [w.numpy() for w in a.weights]
        new_shapes = [tuple(w.shape) for w in b.weights]
        if type(a) is not type(b) or len(old) != len(new_shapes):
            raise ValueError(f"cannot widen: layer {a.name!r} does not match {b.name!r}")
        if [w.shape for w in old] == new_shapes:
            b.set_weights(old)
            continue
        if any(n < o for w, s in zip(old, new_shapes, strict=True)
               for o, n in zip(w.shape, s, strict=True)):
            raise ValueError(f"cannot widen: layer {a.name!r} would get narrower")
        if isinstance(a, keras.layers.Conv2DTranspose):  # kernel (kh, kw, out, in)
            in_axis, out_axis = 3, 2
        elif isinstance(a, keras.layers.Conv2D):  # kernel (kh, kw, in, out)
            in_axis, out_axis = 2, 3
        else:
            raise TypeError(f"cannot widen layer {a.name!r} of type {type(a).__name__}")
        bias = old[1] if len(old) > 1 else None
        b.set_weights(widener.conv(old[0], bias, new_shapes[0], in_axis, out_axis,
                                   scale_out=id(a) in phis))


def widen(model: keras.Model, n_feats: int, *, seed: int = 0) -> Any:
    """A copy of an RNAN ``model`` with ``n_feats`` feature channels, same function.

    Args:
        model: an :class:`~rnan_keras.models.RNAN` of a scale-1 variant.
        n_feats: the new width, at least the model's.
        seed: seed of the added channels' choice and of the split factors.

    Returns:
        A new RNAN; on any input ``(B, H, W, C)`` on 0-255 its output matches ``model``'s to
        float32 round-off.
    """
    from rnan_keras.models.rnan import RNAN

    cfg = model.rnan_config
    if n_feats < cfg.n_feats:
        raise ValueError(f"n_feats must be >= the model's {cfg.n_feats}, got {n_feats}")
    wide = RNAN(name=model.name, **{**cfg.to_dict(), "n_feats": int(n_feats)})
    widen_into(model, wide, seed=seed)
    return wide
