"""Function-preserving widening (``rnan_keras.models.widen``)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import rnan_keras
from rnan_keras.models import widen as widen_mod
from rnan_keras.models.widen import widen, widen_into

# Every block of the family: non-local and local masks, mask down-sampling (stride-2 conv
# and 6x6 transposed conv), 3 groups so that a plain local group sits between the NL ones.
SMALL = {"n_feats": 8, "n_resgroups": 3, "pre_blocks": 1, "trunk_blocks": 1,
         "post_blocks": 1, "mask_down_blocks": 1, "zero_init_tail": False}
# float32 keeps ~7 digits; the ~40 layers here sum at most 9 * 12 terms each, so round-off
# stays far below 1e-4 of the network's residual. A wrongly copied or split channel changes
# the output by the order of the residual itself (see the test with the split disabled).
REL_TOL = 1e-4


def _random_model(variant: str, seed: int = 0, **overrides):
    """A model whose every weight is random (the official init zeroes the non-local output
    conv, which would hide the attention), scaled to keep activations moderate."""
    model = rnan_keras.build_model(variant, **{**SMALL, **overrides})
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.05, w.shape).astype("float32")
                       for w in model.get_weights()])
    return model


def _input(model, shape=(2, 22, 19), seed=1):
    c = model.rnan_config.n_colors
    return np.random.default_rng(seed).uniform(0, 255, (*shape, c)).astype("float32")


def _relative_change(a, b, x):
    ya, yb = np.asarray(a(x)), np.asarray(b(x))
    return np.abs(ya - yb).max() / np.abs(ya - x).max()


@pytest.mark.parametrize("variant,overrides", [
    ("dn_rgb", {}),
    ("dn_gray", {"softmax_axis": "key"}),
    ("demosaic", {"demosaic_bilinear_skip": True}),
    ("car", {"non_local_groups": 1}),
])
def test_widened_model_computes_the_same_function(variant, overrides):
    model = _random_model(variant, **overrides)
    wide = widen(model, 13, seed=3)
    assert wide.rnan_config.to_dict() == {**model.rnan_config.to_dict(), "n_feats": 13}
    assert wide.count_params() > model.count_params()
    x = _input(model)
    assert _relative_change(model, wide, x) < REL_TOL


def test_the_check_sees_a_wrong_split(monkeypatch):
    """Without the split factors (copies summed whole), the same check fails clearly."""
    model = _random_model("dn_rgb")
    monkeypatch.setattr(widen_mod._Widener, "split",
                        lambda self, shape, m, axis: np.ones(shape))
    assert _relative_change(model, widen(model, 13), _input(model)) > 0.1


def test_widening_to_the_same_width_copies_the_weights():
    model = _random_model("dn_rgb")
    same = widen(model, SMALL["n_feats"])
    for a, b in zip(model.get_weights(), same.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_added_channels_get_different_gradients():
    """The split factors are drawn per weight, so a copy and its original learn apart."""
    model = _random_model("dn_rgb")
    wide = widen(model, 16, seed=0)
    m = widen_mod._Widener(0).channel_map(8, 16)  # the map widen drew first (same seed)
    x = _input(model)
    head = wide.get_layer("head").kernel
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(wide(x) - x * 0.9))
    grad = tape.gradient(loss, head).numpy()  # (3, 3, 3, 16)
    copies = [k for k in range(8, 16)]
    assert np.array_equal(head.numpy()[..., copies], head.numpy()[..., m[copies]])
    gap = np.abs(grad[..., copies] - grad[..., m[copies]]).max()
    assert gap > 1e-3 * np.abs(grad).max()


def test_bad_requests_raise_clear_errors():
    model = _random_model("dn_rgb")
    with pytest.raises(ValueError, match="n_feats must be >= the model's 8"):
        widen(model, 4)
    with pytest.raises(ValueError, match="SR model"):
        widen(rnan_keras.build_model("sr_x2", **SMALL), 12)
    other = rnan_keras.build_model("dn_rgb", **{**SMALL, "n_resgroups": 4, "n_feats": 12})
    with pytest.raises(ValueError, match="different architectures"):
        widen_into(model, other)
    narrow = rnan_keras.build_model("dn_rgb", **{**SMALL, "n_feats": 6})
    with pytest.raises(ValueError, match="narrower"):
        widen_into(model, narrow)


def test_widened_model_survives_a_keras_file(tmp_path):
    wide = widen(_random_model("dn_rgb"), 12)
    wide.save(tmp_path / "wide.keras")
    back = keras.models.load_model(tmp_path / "wide.keras")
    x = _input(wide)
    np.testing.assert_array_equal(np.asarray(back(x)), np.asarray(wide(x)))
