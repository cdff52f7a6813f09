"""The one model resolver: ``keras.Model`` | ``.keras`` path | preset name -> model.

:func:`resolve_model` is what ``restore``, ``rnan eval``, ``rnan train --init-model`` /
``--init-preset``, ``rnan export`` and ``rnan convert`` use to get a model; it takes no
degradation settings (a model's architecture and weights never depend on them).
:func:`check_degradation_settings` checks a noise level / JPEG quality against the model's
task (:mod:`rnan_keras.tasks`) and a preset's trained range.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import keras

from rnan_keras.errors import ConfigError, ModelLoadError
from rnan_keras.tasks import DEFAULT_TASK, SETTINGS, Task, get_task

_PRESET_CACHE: dict[str, Any] = {}
_FILE_CACHE: dict[tuple, Any] = {}


def load_model_file(path: str | os.PathLike, *, cache: bool = True) -> keras.Model:
    """Load a ``.keras`` model file with ``safe_mode=True`` (no arbitrary code), uncompiled.

    Every failure is a one-line :class:`ModelLoadError` naming the file.
    """
    path = Path(path)
    if path.is_dir():
        raise ModelLoadError(f"{path}: is a folder, not a .keras model file")
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such model file (not found)")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if cache and key in _FILE_CACHE:
        return _FILE_CACHE[key]
    import rnan_keras.layers
    import rnan_keras.models.rnan  # noqa: F401 -- registers the serialisable classes

    try:
        model = keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # noqa: BLE001 - any failure means "not a usable model"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ModelLoadError(f"{path}: not a loadable Keras model ({first})") from None
    if not isinstance(model, keras.Model):
        raise ModelLoadError(f"{path}: does not contain a Keras model")
    if cache:
        _FILE_CACHE.clear()
        _FILE_CACHE[key] = model
    return model


def load_preset_model(name: str, *, cache: bool = True) -> keras.Model:
    """The preset ``name`` (:func:`rnan_keras.presets.registry.load_preset`), cached.

    Takes no degradation settings: a preset's architecture and weights are fixed by its
    registry entry (see :func:`check_degradation_settings` for sigma / quality).
    """
    if cache and name in _PRESET_CACHE:
        return _PRESET_CACHE[name]
    from rnan_keras.presets import registry

    model = registry.load_preset(name)
    if cache:
        _PRESET_CACHE.clear()
        _PRESET_CACHE[name] = model
    return model


def resolve_model(model_or_preset: Any, *, cache: bool = True) -> keras.Model:
    """A ``keras.Model`` from a model, a ``.keras`` path or a preset name.

    A string is a file when it ends in ``.keras``, contains a path separator or names an
    existing file; otherwise it is a preset name. ``cache=False`` loads a fresh copy.
    """
    if isinstance(model_or_preset, keras.Model):
        return model_or_preset
    if isinstance(model_or_preset, str | os.PathLike):
        text = os.fspath(model_or_preset)
        if text.endswith(".keras") or os.sep in text or Path(text).is_file():
            return load_model_file(text, cache=cache)
        return load_preset_model(text, cache=cache)
    raise ConfigError(
        f"expected a keras.Model, a .keras file or a preset name, got {type(model_or_preset)}"
    )


def model_spec(model) -> Task:
    """The registry task of an RNAN model's variant; a model without an RNAN config counts
    as the default task (a denoiser: it takes ``sigma``, no Bayer or Y handling)."""
    cfg = getattr(model, "rnan_config", None)
    return get_task(cfg.variant if cfg is not None else DEFAULT_TASK)


def model_channels(model) -> int:
    """The number of channels ``model`` takes."""
    try:
        c = model.inputs[0].shape[-1]
    except (AttributeError, IndexError, TypeError):
        c = None
    if c is None:
        cfg = getattr(model, "rnan_config", None)
        if cfg is None:
            raise ConfigError("cannot tell how many channels the model takes")
        c = cfg.n_colors
    return int(c)


def check_degradation_settings(
    model, *, sigma: float | None = None, quality: int | None = None, used: bool = False
) -> list[str]:
    """Check a noise level / JPEG quality given with ``model``; they never change the model.

    Which setting a model takes comes from its task in :mod:`rnan_keras.tasks` (``sigma``
    for denoising, ``quality`` for JPEG artifact reduction); any other raises
    :class:`ConfigError`, as does a value outside the setting's range. Returns notes for the
    user: a value outside the range the preset was trained on, and, unless ``used`` (the
    caller degrades images with it, as ``rnan eval`` does), that the model does not take the
    setting (RNAN models are blind: the level is not an input).
    """
    spec = model_spec(model)
    takes = spec.setting
    label = getattr(getattr(model, "rnan_config", None), "variant", spec.kind)
    name = getattr(model, "preset_name", None)
    trained = (getattr(model, "preset_info", None) or {}).get("degradation") or {}
    what = f"preset {name!r}" if name else "the model"
    notes = []
    for key, value in (("sigma", sigma), ("quality", quality)):
        if value is None:
            continue
        setting = SETTINGS[key]
        if key != takes:
            raise ConfigError(
                f"{key} applies to {setting.applies_to} models only; {what} is a {label!r} model"
            )
        setting.check(value)
        span = trained.get(key)
        if span is not None and not span[0] <= value <= span[1]:
            notes.append(
                f"{key} {value:g} is outside the range {what} was trained on "
                f"({span[0]:g}-{span[1]:g}); expect a poor result"
            )
        elif not used:
            blind = f" (blind over {key} {span[0]:g}-{span[1]:g})" if span is not None else ""
            notes.append(
                f"{what}{blind} takes no {key}: {key} {value:g} does not change the result"
            )
    return notes
