"""PadToMultiple's two modes, and the odd-sized Bayer mosaic the REFLECT mode exists for."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from rnan_keras import build_model
from rnan_keras.data.mosaic import bayer_mosaic
from rnan_keras.layers import PadToMultiple


def test_modes_pad_bottom_right_like_numpy():
    x = np.arange(3 * 5, dtype=np.float32).reshape(1, 3, 5, 1)
    for mode, np_mode in (("SYMMETRIC", "symmetric"), ("REFLECT", "reflect")):
        got = np.asarray(PadToMultiple(2, mode=mode)(x))
        np.testing.assert_array_equal(got, np.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)),
                                                  mode=np_mode))
    assert PadToMultiple(2, mode="reflect").get_config()["mode"] == "REFLECT"
    with pytest.raises(ValueError, match="mode must be one of"):
        PadToMultiple(2, mode="constant")


@pytest.mark.parametrize("h,w", [(7, 9), (8, 9), (7, 8), (8, 8)])
def test_demosaic_model_keeps_the_bayer_phase_at_odd_sizes(h, w):
    # With its tail at zero, a bilinear-skip demosaic model is the bilinear demosaic, which
    # restores a one-colour image exactly when every neighbour has the CFA colour it expects.
    # Padding the odd edge by repeating it (SYMMETRIC) put the other colours there: the last
    # row / column came out wrong by tens of levels.
    keras.utils.set_random_seed(0)
    model = build_model("demosaic", n_feats=4, n_resgroups=2, demosaic_bilinear_skip=True,
                        zero_init_tail=True)
    colour = np.array([100.0, 150.0, 200.0], np.float32)
    flat = np.broadcast_to(colour, (1, h, w, 3))
    out = np.asarray(model(np.asarray(bayer_mosaic(flat))))
    # float32 sums of at most 9 taps of values <= 200 with weights 1/4 .. 1: ~1e-4
    np.testing.assert_allclose(out[0], flat[0], atol=1e-3)


def test_other_variants_keep_symmetric_padding():
    # a 1-pixel-wide image still works for the other tasks (REFLECT cannot pad it)
    keras.utils.set_random_seed(0)
    model = build_model("dn_gray", n_feats=4, n_resgroups=2)
    assert model.get_layer("pad").mode == "SYMMETRIC"
    assert np.asarray(model(np.zeros((1, 5, 1, 1), np.float32))).shape == (1, 5, 1, 1)
