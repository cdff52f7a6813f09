"""Preset registry: named, trained models shipped inside the package.

``presets.json`` (beside this file) maps a preset name to its model config, weights file
(``weights/<name>.weights.h5``, with its sha256), the degradation it was trained for, and
the training record (data, steps, wall time, validation PSNR curve). ``load_preset(name)``
is the one way to get a trained model::

    model = rnan_keras.load_preset("dn_rgb_small")   # NHWC float32 0-255 in and out
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from rnan_keras.errors import ConfigError, ModelLoadError

PRESET_DIR = Path(__file__).resolve().parent
REGISTRY_FILE = PRESET_DIR / "presets.json"
WEIGHTS_DIR = PRESET_DIR / "weights"

#: Keys every preset entry must have (checked by the tests).
REQUIRED_KEYS = ("variant", "description", "config", "weights", "sha256", "param_count", "training")


@lru_cache(maxsize=1)
def _registry() -> dict[str, dict[str, Any]]:
    if not REGISTRY_FILE.is_file():
        return {}
    return json.loads(REGISTRY_FILE.read_text())


def list_presets() -> list[str]:
    """Names of the shipped presets, sorted."""
    return sorted(_registry())


def get_preset_info(name: str) -> dict[str, Any]:
    """The registry entry of ``name`` (config, weights, training record)."""
    registry = _registry()
    if name not in registry:
        known = ", ".join(sorted(registry)) or "none shipped"
        raise ConfigError(f"unknown preset {name!r}; available presets: {known}")
    return dict(registry[name])


def default_preset(variant: str) -> str | None:
    """The first shipped preset for ``variant``, or None."""
    for name in list_presets():
        if _registry()[name]["variant"] == variant:
            return name
    return None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_preset(name: str, **overrides: Any):
    """Build the preset's model and load its trained weights.

    Args:
        name: a name from :func:`list_presets`.
        **overrides: options that do not change weights, e.g. ``non_local_mode="chunked"``.

    Returns:
        :class:`rnan_keras.models.RNAN`, NHWC float32 0-255 in and out.

    Raises:
        ConfigError: unknown name. ModelLoadError: missing or corrupt weights file.
    """
    from rnan_keras.models.rnan import build_model

    info = get_preset_info(name)
    path = WEIGHTS_DIR / info["weights"]
    if not path.is_file():
        raise ModelLoadError(f"preset {name!r}: weights file missing: {path}")
    if sha256_file(path) != info["sha256"]:
        raise ModelLoadError(f"preset {name!r}: weights file {path} is corrupt (sha256 mismatch)")
    config = {**info["config"], **overrides}
    model = build_model(config.pop("variant", info["variant"]), name=name, **config)
    try:
        model.load_weights(path)
    except Exception as exc:  # noqa: BLE001 -- h5 errors, shape mismatch
        raise ModelLoadError(f"preset {name!r}: cannot load {path}: {exc}") from None
    model.preset_name = name
    model.preset_info = info
    return model
