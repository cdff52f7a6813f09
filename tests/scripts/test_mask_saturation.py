"""scripts/mask_saturation.py: saturated sigmoid masks hide the non-local attention."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import rnan_keras
from tests.conftest import load_script

saturation = load_script("scripts/mask_saturation.py")


def _model_with_mask_logit(bias: float):
    """A tiny dn_gray RNAN whose mask logits are ``bias`` plus a small input-dependent term
    (mask kernel ~ N(0, 1e-5)) and whose non-local blocks change their input (random output
    conv)."""
    keras.utils.set_random_seed(0)
    model = rnan_keras.build_model("dn_gray", n_feats=8, n_resgroups=2, zero_init_tail=False)
    rng = np.random.default_rng(0)
    for layer in model._flatten_layers():
        if layer.name == "non_local":
            for w in layer.w.weights:
                w.assign(rng.normal(0, 0.5, w.shape).astype("float32"))
    for name in ("body_nl_low", "body_nl_high"):
        conv = model.get_layer(name).module.mask_branch.conv1x1
        conv.kernel.assign(rng.normal(0, 1e-5, conv.kernel.shape).astype("float32"))
        conv.bias.assign(np.full(conv.bias.shape, bias, "float32"))
    return model


def test_saturated_masks_hide_the_attention_and_live_ones_do_not():
    x = saturation.sample_input("dn_gray", size=32)
    assert x.shape == (1, 32, 32, 1)
    live = saturation.mask_statistics(_model_with_mask_logit(0.0), x)
    assert set(live["groups"]) == {"body_nl_low", "body_nl_high"}
    for stats in live["groups"].values():
        assert stats == {"mask": "non_local", "exact_0": 0.0, "exact_1": 0.0, "live": 1.0}
    assert live["window_change"] > 0  # the attention reaches the output through the mask

    dead = saturation.mask_statistics(_model_with_mask_logit(200.0), x)
    for stats in dead["groups"].values():
        assert stats["exact_1"] == 1.0 and stats["live"] == 0.0
    assert dead["window_change"] == 0.0  # a mask of exactly 1 ignores the attention


@pytest.mark.parametrize("preset", ["dn_gray_small"])
def test_cli_writes_json(preset, tmp_path, capsys):
    out = tmp_path / "sat.json"
    assert saturation.main(["--presets", preset, "--size", "32", "--out", str(out)]) == 0
    result = json.loads(out.read_text())["results"][preset]
    assert result["task"] == "dn_gray"
    assert set(result["groups"]) == {"body_nl_low", "body_nl_high"}
    assert "exactly 1" in capsys.readouterr().out


def test_fresh_masks_are_alive_only_on_the_0_1_scale():
    """At the same (seeded) initialisation, a model computing on 0-255 starts with most mask
    values saturated; one computing on 0-1 (``rgb_range=1``) starts with them alive."""
    x = saturation.sample_input("dn_gray", size=48)
    live = {}
    for rgb_range in (255.0, 1.0):
        keras.utils.set_random_seed(0)
        model = rnan_keras.build_model("dn_gray", n_feats=16, n_resgroups=2, rgb_range=rgb_range)
        stats = saturation.mask_statistics(model, x)["groups"]
        live[rgb_range] = min(s["live"] for s in stats.values())
    assert live[255.0] < 0.2 and live[1.0] > 0.8
