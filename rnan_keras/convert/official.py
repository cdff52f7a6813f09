"""Load official PyTorch RNAN checkpoints into :class:`rnan_keras.models.RNAN`.

An official checkpoint is the RNAN module's ``state_dict`` (no ``model.`` prefix). This
module reads it from a ``.pt`` file (needs the optional ``torch`` extra; loaded with
``weights_only=True``, so no code in the file runs) or from an ``.npz`` of the same keys,
infers the configuration from key names and tensor shapes, and copies every tensor:

- Conv2d weight ``(out, in, kh, kw)`` -> Keras ``(kh, kw, in, out)``: ``transpose(2, 3, 1, 0)``.
- ConvTranspose2d weight ``(in, out, kh, kw)`` -> Keras ``(kh, kw, out, in)``: the same
  transpose, no spatial flip.
- MeanShift 1x1 conv ``(out, in, 1, 1)`` -> ``(in, out)`` matrix.

Every official key must be used and every Keras weight filled; otherwise a
:class:`~rnan_keras.errors.CheckpointError` names the offending key.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rnan_keras.errors import CheckpointError
from rnan_keras.models.config import VARIANTS, get_variant_spec
from rnan_keras.models.rnan import RNAN, build_model

# (official key, keras variable, kind) with kind in {"conv", "convT", "bias", "meanshift"}
_Entry = tuple[str, Any, str]


def _conv(prefix: str, layer, kind: str = "conv") -> Iterator[_Entry]:
    yield f"{prefix}.weight", layer.kernel, kind
    yield f"{prefix}.bias", layer.bias, "bias"


def _rb(prefix: str, block) -> Iterator[_Entry]:
    yield from _conv(f"{prefix}.body.0", block.conv1)
    yield from _conv(f"{prefix}.body.2", block.conv2)


def _group(prefix: str, group) -> Iterator[_Entry]:
    m = group.module
    p = f"{prefix}.body.0"
    for i, block in enumerate(m.pre):
        yield from _rb(f"{p}.RA_RB1.{i}", block)
    for i, block in enumerate(m.trunk.blocks):
        yield from _rb(f"{p}.RA_TB.0.body.{i}", block)
    mask = m.mask_branch
    if mask is not None:
        q = f"{p}.RA_MB.0"
        first = 0
        if m.mask == "non_local":
            nl = mask.non_local
            for name, conv in (("g", nl.g), ("W", nl.w), ("theta", nl.theta), ("phi", nl.phi)):
                yield from _conv(f"{q}.MB_RB1.0.{name}", conv)
            first = 1
        yield from _rb(f"{q}.MB_RB1.{first}", mask.rb1)
        yield from _conv(f"{q}.MB_Down.0", mask.down)
        for i, block in enumerate(mask.rb2):
            yield from _rb(f"{q}.MB_RB2.{i}", block)
        yield from _conv(f"{q}.MB_Up.0", mask.up, "convT")
        yield from _rb(f"{q}.MB_RB3.0", mask.rb3)
        yield from _conv(f"{q}.MB_1x1conv.0", mask.conv1x1)
    for i, block in enumerate(m.post):
        yield from _rb(f"{p}.RA_tail.{i}", block)
    yield from _conv(f"{prefix}.body.1", group.conv)


def official_weight_map(model: RNAN) -> list[_Entry]:
    """Every Keras weight of ``model`` with its official state_dict key, in official order."""
    cfg = model.rnan_config
    entries: list[_Entry] = []
    sr = get_variant_spec(cfg.variant).is_sr
    if sr:
        for name in ("sub_mean", "add_mean"):
            layer = model.get_layer(name)
            entries += [(f"{name}.weight", layer.kernel, "meanshift"), (f"{name}.bias", layer.bias, "bias")]
    entries += _conv("head.0", model.get_layer("head"))
    entries += _group("body_nl_low.0", model.get_layer("body_nl_low"))
    for i in range(cfg.n_resgroups - 2):
        entries += _group(f"body.{i}", model.get_layer(f"body_{i}"))
    entries += _conv(f"body.{cfg.n_resgroups - 2}", model.get_layer("body_conv"))
    entries += _group("body_nl_high.0", model.get_layer("body_nl_high"))
    if sr:
        up = model.get_layer("upsampler")
        for i, conv in enumerate(up.convs):
            entries += _conv(f"tail.0.{2 * i}", conv)
        entries += _conv("tail.1", model.get_layer("tail"))
    else:
        entries += _conv("tail.0", model.get_layer("tail"))
    return entries


def _to_keras(array: np.ndarray, kind: str) -> np.ndarray:
    if kind in ("conv", "convT"):
        return array.transpose(2, 3, 1, 0)
    if kind == "meanshift":
        return array[:, :, 0, 0].T
    return array


def _to_official(array: np.ndarray, kind: str) -> np.ndarray:
    if kind in ("conv", "convT"):
        return array.transpose(3, 2, 0, 1)
    if kind == "meanshift":
        return array.T[:, :, None, None]
    return array


def _clean_state_dict(state: Mapping[str, Any], source: str = "state_dict") -> dict[str, np.ndarray]:
    for wrapper in ("state_dict", "model", "params"):
        if wrapper in state and isinstance(state[wrapper], Mapping):
            state = state[wrapper]
    out: dict[str, np.ndarray] = {}
    for key, value in state.items():
        if not isinstance(key, str):
            raise CheckpointError(f"{source}: key {key!r} is not a string")
        if key.startswith("__"):  # fixture inputs / outputs stored beside the weights
            continue
        name = re.sub(r"^(module\.|model\.)+", "", key)
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        # Real numbers only (an .npz member that is not a valid .npy file comes back as bytes).
        array = None if isinstance(value, bytes | str) else np.asarray(value)
        if array is None or array.dtype.kind not in "biuf":
            raise CheckpointError(f"{source}: key {key!r} is not a numeric tensor")
        out[name] = array.astype(np.float32)
    return out


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Read an official state_dict from ``.pt`` / ``.pth`` (needs torch) or ``.npz``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npz":
            # Our own handle: np.load leaks the one it opens when the zip is corrupt.
            with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as data:
                state = {k: data[k] for k in data.files}
        elif suffix in (".pt", ".pth"):
            try:
                import torch
            except ImportError:
                raise CheckpointError(
                    f"{path}: reading .pt files needs PyTorch: pip install 'rnan_keras[torch]' "
                    "(or save the state_dict as .npz)"
                ) from None
            state = torch.load(path, map_location="cpu", weights_only=True)
        else:
            raise CheckpointError(f"{path}: unsupported checkpoint type {suffix!r} (.pt, .pth, .npz)")
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 -- corrupt zip, pickle refused by weights_only
        raise CheckpointError(f"{path}: cannot read checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path}: expected a state_dict (mapping), got {type(state).__name__}")
    return _clean_state_dict(state, source=str(path))


def infer_config(state: Mapping[str, np.ndarray], variant: str | None = None) -> dict[str, Any]:
    """Infer ``build_model`` arguments from key names and shapes.

    ``variant`` is needed only where shapes cannot tell: ``dn_gray`` vs ``car`` (1 channel)
    and ``dn_rgb`` vs ``demosaic`` (3 channels).
    """
    if "head.0.weight" not in state:
        raise CheckpointError("missing key 'head.0.weight': not an official RNAN state_dict")
    head = np.shape(state["head.0.weight"])
    if len(head) != 4 or min(head) < 1:
        raise CheckpointError(f"key 'head.0.weight' has shape {head}, not a conv weight")
    n_feats, n_colors = head[:2]
    groups = {int(m.group(1)) for k in state if (m := re.match(r"body\.(\d+)\.body\.0\.", k))}
    n_resgroups = len(groups) + 2
    sr = "sub_mean.weight" in state
    if sr:
        stages = sorted(int(m.group(1)) for k in state if (m := re.match(r"tail\.0\.(\d+)\.weight$", k)))
        if not stages:
            raise CheckpointError("SR checkpoint without up-sampler keys 'tail.0.N.weight'")
        ratio = (np.shape(state[f"tail.0.{stages[0]}.weight"]) or (0,))[0] // n_feats
        scale = 3 if ratio == 9 else 2 ** len(stages)
        inferred = next((t.name for t in VARIANTS.values() if t.is_sr and t.scale == scale),
                        f"SR x{scale}")
        if variant is not None and variant != inferred:
            raise CheckpointError(f"checkpoint is {inferred} but variant {variant!r} was requested")
        variant = inferred
    else:
        choices = tuple(t.name for t in VARIANTS.values()
                        if not t.is_sr and t.n_colors == n_colors)
        if variant is None:
            raise CheckpointError(
                f"a {n_colors}-channel checkpoint can be {' or '.join(choices)}: "
                "pass variant= (CLI: --variant)"
            )
        if variant not in choices:
            raise CheckpointError(
                f"variant {variant!r} does not fit a {n_colors}-channel checkpoint {choices}"
            )
    if variant not in VARIANTS:
        raise CheckpointError(f"unknown variant {variant!r}")
    # Every group ends with an n_feats x n_feats 3x3 conv: a state_dict too small to hold them
    # is missing tensors (refused before a huge model is built from a crafted header).
    stored = sum(int(np.size(v)) for v in state.values())
    if n_resgroups * n_feats * n_feats * 9 > stored:
        raise CheckpointError(
            f"the tensors ({stored:,} values) cannot hold an RNAN with n_feats={n_feats} and "
            f"{n_resgroups} groups: keys or shapes are missing"
        )
    use_non_local = any(".MB_RB1.0.theta." in k for k in state)
    return {
        "variant": variant,
        "n_feats": int(n_feats),
        "n_resgroups": int(n_resgroups),
        "use_non_local": bool(use_non_local),
    }


def load_official_weights(model: RNAN, state: Mapping[str, np.ndarray], source: str = "checkpoint") -> None:
    """Copy ``state`` into ``model``; raises :class:`CheckpointError` on any mismatch."""
    entries = official_weight_map(model)
    expected = {key for key, _, _ in entries}
    missing = [key for key, _, _ in entries if key not in state]
    unknown = sorted(set(state) - expected)
    if missing:
        raise CheckpointError(f"{source}: missing key {missing[0]!r} ({len(missing)} missing in all)")
    if unknown:
        raise CheckpointError(f"{source}: unexpected key {unknown[0]!r} ({len(unknown)} unexpected in all)")
    for key, variable, kind in entries:
        try:
            value = _to_keras(np.asarray(state[key], dtype=np.float32), kind)
        except (ValueError, IndexError):  # wrong number of dimensions
            value = None
        if value is None or tuple(value.shape) != tuple(variable.shape):
            raise CheckpointError(
                f"{source}: key {key!r} has shape {tuple(state[key].shape)}, which does not fit "
                f"the Keras weight {variable.path} of shape {tuple(variable.shape)}"
            )
        variable.assign(value)


def convert(
    source: str | Path | Mapping[str, Any], variant: str | None = None, **overrides: Any
) -> RNAN:
    """Build the Keras RNAN that an official checkpoint describes and load its weights.

    Args:
        source: path to ``.pt`` / ``.pth`` / ``.npz``, or a state_dict mapping.
        variant: needed only when shapes are ambiguous (see :func:`infer_config`).
        **overrides: extra ``build_model`` options that do not change weights
            (e.g. ``non_local_mode="chunked"``).

    Returns:
        The model, inputs/outputs NHWC float32 on 0-255.
    """
    name = str(source) if isinstance(source, str | Path) else "state_dict"
    state = load_state_dict(source) if isinstance(source, str | Path) else _clean_state_dict(source)
    try:
        cfg = infer_config(state, variant)
    except CheckpointError as exc:
        raise CheckpointError(f"{name}: {exc}") from None
    model = build_model(cfg.pop("variant"), **cfg, **overrides)
    load_official_weights(model, state, source=name)
    return model


def to_official_state_dict(model: RNAN) -> dict[str, np.ndarray]:
    """The inverse of :func:`convert`: official keys and PyTorch layouts as numpy arrays."""
    return {
        key: _to_official(np.asarray(variable.numpy()), kind)
        for key, variable, kind in official_weight_map(model)
    }
