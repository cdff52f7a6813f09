"""The one model resolver: keras.Model | .keras path | preset name -> model."""

import numpy as np
import pytest

import rnan_keras
from rnan_keras.errors import ConfigError, ModelLoadError
from rnan_keras.models.resolve import check_degradation_settings, resolve_model
from rnan_keras.presets.registry import load_preset


def test_model_file_and_preset_resolve(tmp_path):
    model = rnan_keras.build_model("dn_gray", n_feats=8, n_resgroups=2)
    assert resolve_model(model) is model
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = resolve_model(str(path))
    assert loaded.rnan_config == model.rnan_config and not loaded.compiled
    assert resolve_model(path) is loaded  # cached while the file is unchanged
    assert resolve_model(path, cache=False) is not loaded
    with pytest.raises(ModelLoadError, match="no such"):
        resolve_model(tmp_path / "missing.keras")
    with pytest.raises(ConfigError, match="unknown preset"):
        resolve_model("no_such_preset")
    with pytest.raises(ConfigError, match="expected a keras.Model"):
        resolve_model(3)


def test_from_preset_is_the_documented_entry_point():
    a = rnan_keras.RNAN.from_preset("dn_gray_small")
    b = load_preset("dn_gray_small")
    c = resolve_model("dn_gray_small")
    assert a.preset_name == b.preset_name == c.preset_name == "dn_gray_small"
    for x, y, z in zip(a.get_weights(), b.get_weights(), c.get_weights(), strict=True):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)


def test_settings_follow_the_task_registry():
    gray = rnan_keras.build_model("dn_gray", n_feats=8, n_resgroups=2)
    car = rnan_keras.build_model("car", n_feats=8, n_resgroups=2)
    sr = rnan_keras.build_model("sr_x2", n_feats=8, n_resgroups=2)
    assert check_degradation_settings(gray, sigma=25, used=True) == []
    assert check_degradation_settings(car, quality=10, used=True) == []
    with pytest.raises(ConfigError, match="denoising"):
        check_degradation_settings(car, sigma=25)
    with pytest.raises(ConfigError, match="JPEG"):
        check_degradation_settings(sr, quality=10)
    with pytest.raises(ConfigError, match="1..100"):
        check_degradation_settings(car, quality=0)
    with pytest.raises(ConfigError, match=">= 0"):
        check_degradation_settings(gray, sigma=float("nan"))
