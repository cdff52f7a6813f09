"""BicubicUpsample equals Matlab-compatible imresize up-scaling; SR skip uses it."""

from __future__ import annotations

import numpy as np
import pytest

import rnan_keras
from rnan_keras.data.degradations import imresize
from rnan_keras.errors import ConfigError
from rnan_keras.layers.bicubic_upsample import BicubicUpsample, phase_filters
from tests.conftest import assert_layer_roundtrip


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_matches_imresize_including_borders(scale):
    x = np.random.default_rng(scale).uniform(0, 255, (1, 13, 17, 3)).astype("float32")
    got = np.asarray(BicubicUpsample(scale)(x))[0]
    want = np.asarray(imresize(x[0], scale))
    assert got.shape == want.shape == (13 * scale, 17 * scale, 3)
    assert np.abs(got - want).max() < 1e-3


def test_phase_filters_sum_to_one_and_are_symmetric():
    f = phase_filters(4)
    np.testing.assert_allclose(f.sum(axis=1), 1.0)
    np.testing.assert_allclose(f[0], f[3][::-1])


def test_roundtrip(tmp_path):
    x = np.random.default_rng(0).uniform(0, 255, (1, 6, 8, 3)).astype("float32")
    assert_layer_roundtrip(BicubicUpsample(3), x, tmp_path)


def test_sr_model_with_skip_starts_at_bicubic():
    model = rnan_keras.build_model(
        "sr_x2", n_feats=8, n_resgroups=2, zero_init_tail=True, sr_bicubic_skip=True
    )
    assert model.count_params() == rnan_keras.build_model("sr_x2", n_feats=8, n_resgroups=2).count_params()
    x = np.random.default_rng(0).uniform(0, 255, (1, 10, 12, 3)).astype("float32")
    y = model(x, training=False).numpy()[0]
    assert np.abs(y - np.asarray(imresize(x[0], 2))).max() < 1e-2


def test_skip_only_for_sr():
    with pytest.raises(ConfigError, match="SR variants only"):
        rnan_keras.build_model("dn_rgb", sr_bicubic_skip=True)
