"""Every shipped preset loads, has its recorded size and metadata, and restores a real
image (the shipped Kodak crop) clearly better than the degraded input."""

from __future__ import annotations

import numpy as np
import pytest

import rnan_keras
from rnan_keras.data.degradations import degrade, imresize, prepare_clean
from rnan_keras.data.image_io import read_image
from rnan_keras.errors import ConfigError, ModelLoadError
from rnan_keras.metrics import psnr
from rnan_keras.models.config import VARIANTS
from rnan_keras.presets import registry
from rnan_keras.presets.registry import REQUIRED_KEYS, get_preset_info, list_presets

SAMPLE = registry.PRESET_DIR.parent / "assets" / "kodim23_crop.png"
PRESETS = list_presets()

# Minimum PSNR gain (dB) of the restored image over the task's baseline input, on the sample:
# the noisy image (sigma 25), the zero-filled mosaic, the JPEG (q 20), bicubic up-scaling.
MARGINS = {"dn": 3.0, "demosaic": 10.0, "car": 0.3, "sr": 0.2}


def test_every_task_has_a_preset():
    assert {get_preset_info(n)["variant"] for n in PRESETS} == set(VARIANTS)


@pytest.mark.parametrize("name", PRESETS)
def test_metadata_complete_and_size_recorded(name):
    info = get_preset_info(name)
    for key in REQUIRED_KEYS:
        assert info.get(key) not in (None, "", {}), key
    training = info["training"]
    for key in ("train_data", "steps", "wall_time_s", "best_val_psnr", "val_psnr_curve",
                "lr_logged"):
        assert training.get(key) not in (None, "", []), key
    steps = [s for s, _ in training["lr_logged"]]  # one entry per change, within the run
    assert steps == sorted(set(steps)) and steps[-1] <= training["steps"]
    assert "testsets" not in training["train_data"]  # never trained on benchmark sets
    model = rnan_keras.load_preset(name)
    assert model.count_params() == info["param_count"]
    assert model.rnan_config.variant == info["variant"]


def _baseline_and_restored(name):
    info = get_preset_info(name)
    variant = info["variant"]
    spec = VARIANTS[variant]
    clean = np.asarray(prepare_clean(variant, read_image(SAMPLE).astype("float32")))
    if spec.task == "sr":
        s = spec.scale
        clean = clean[: clean.shape[0] // s * s, : clean.shape[1] // s * s]
        lr = np.clip(np.round(np.asarray(degrade(variant, clean))), 0, 255)
        baseline = np.asarray(imresize(lr, s))
        inp = lr
    else:
        kwargs = {"dn": {"sigma": 25.0}, "car": {"quality": 20}, "demosaic": {}}[spec.task]
        inp = np.asarray(degrade(variant, clean, seed=0, **kwargs))
        baseline = inp
    model = rnan_keras.load_preset(name)
    restored = model(inp[None], training=False).numpy()[0]
    return spec, clean, baseline, restored


@pytest.mark.parametrize("name", PRESETS)
def test_restores_better_than_degraded(name):
    spec, clean, baseline, restored = _baseline_and_restored(name)
    border = spec.scale if spec.task == "sr" else 0
    y = spec.task == "sr"
    before = psnr(np.clip(baseline, 0, 255), clean, crop_border=border, y_channel=y)
    after = psnr(np.clip(restored, 0, 255), clean, crop_border=border, y_channel=y)
    assert after >= before + MARGINS[spec.task], f"{name}: {before:.2f} -> {after:.2f} dB"


def test_unknown_and_corrupt_presets(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="available presets"):
        rnan_keras.load_preset("dn_rgb_enormous")
    if not PRESETS:
        pytest.skip("no presets shipped")
    name = PRESETS[0]
    info = get_preset_info(name)
    bad = tmp_path / info["weights"]
    bad.write_bytes((registry.WEIGHTS_DIR / info["weights"]).read_bytes()[:1000])
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(ModelLoadError, match="corrupt"):
        rnan_keras.load_preset(name)
