"""Every RNAN layer survives get_config and a .keras file (safe_mode) with equal outputs."""

from __future__ import annotations

import numpy as np
import pytest

from rnan_keras import layers as L
from tests.conftest import assert_layer_roundtrip

F = 8


def _x(h=12, w=10, c=F, seed=0):
    return np.random.default_rng(seed).normal(size=(2, h, w, c)).astype("float32")


CASES = {
    "residual_block": lambda: (L.ResidualBlock(F), _x()),
    "trunk_branch": lambda: (L.TrunkBranch(F, num_blocks=3), _x()),
    "mask_branch": lambda: (L.MaskBranch(F), _x()),
    "non_local_dense_query": lambda: (L.NonLocalBlock(F, mode="dense"), _x()),
    "non_local_chunked_key": lambda: (
        L.NonLocalBlock(F, softmax_axis="key", mode="chunked", chunk_size=7),
        _x(),
    ),
    "non_local_windowed": lambda: (L.NonLocalBlock(F, window=5), _x()),
    "non_local_mask_branch": lambda: (L.NonLocalMaskBranch(F, chunk_size=16), _x()),
    "non_local_mask_branch_windowed": lambda: (
        L.NonLocalMaskBranch(F, non_local_window=4), _x()
    ),
    "attention_module": lambda: (L.ResidualAttentionModule(F, mask="non_local"), _x()),
    "attention_module_no_mask": lambda: (L.ResidualAttentionModule(F, mask="none"), _x()),
    "attention_group": lambda: (L.AttentionGroup(F, {"mask": "local", "post_blocks": 1}), _x()),
    "mean_shift": lambda: (L.MeanShift(-1), _x(c=3) * 50 + 128),
    "pixel_shuffle": lambda: (L.PixelShuffle(3), _x(c=18)),
    "upsampler_x4": lambda: (L.Upsampler(F, 4), _x()),
    "pad_to_multiple": lambda: (L.PadToMultiple(2), _x(h=7, w=9, c=3)),
    "pad_to_multiple_reflect": lambda: (L.PadToMultiple(2, mode="reflect"), _x(h=7, w=9, c=3)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_roundtrip(name, tmp_path):
    layer, x = CASES[name]()
    assert_layer_roundtrip(layer, x, tmp_path)


def test_crop_to_reference_roundtrip(tmp_path):
    x, ref = _x(h=16, w=16, c=3), _x(h=7, w=5, c=1)
    layer = L.CropToReference(2)
    assert_layer_roundtrip(layer, [x, ref], tmp_path)
    out = np.asarray(layer([x, ref]))
    np.testing.assert_array_equal(out, x[:, :14, :10])
