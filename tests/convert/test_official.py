"""Converter: official fixtures reproduce, and bad checkpoints give clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from rnan_keras.convert.official import convert, load_state_dict, to_official_state_dict
from rnan_keras.errors import CheckpointError
from rnan_keras.models.config import VARIANTS


def _variant_arg(variant):
    return None if variant.startswith("sr") else variant


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_fixture_outputs_match_official(variant, official_dir):
    path = official_dir / f"{variant}_small.npz"
    model = convert(path, variant=_variant_arg(variant))
    assert model.rnan_config.variant == variant
    with np.load(path) as data:
        for i in (0, 1):
            x = data[f"__input_{i}"].transpose(0, 2, 3, 1)
            want = data[f"__output_{i}"].transpose(0, 2, 3, 1)
            got = model(x, training=False).numpy()
            assert got.shape == want.shape
            assert np.abs(got - want).max() <= 1e-3, f"{variant} input {i}"


def test_state_dict_roundtrip(official_dir):
    path = official_dir / "sr_x4_small.npz"
    state = load_state_dict(path)
    model = convert(state)
    back = to_official_state_dict(model)
    assert set(back) == set(state)
    for key, value in state.items():
        np.testing.assert_array_equal(back[key], value)


def test_ambiguous_shapes_need_variant(official_dir):
    with pytest.raises(CheckpointError, match="dn_rgb or demosaic"):
        convert(official_dir / "dn_rgb_small.npz")
    with pytest.raises(CheckpointError, match="does not fit"):
        convert(official_dir / "dn_rgb_small.npz", variant="car")


def test_missing_unknown_and_misshaped_keys_are_named(official_dir):
    state = load_state_dict(official_dir / "dn_gray_small.npz")
    key = "body.3.body.0.RA_MB.0.MB_Down.0.weight"
    broken = dict(state)
    del broken[key]
    with pytest.raises(CheckpointError, match=key.replace(".", r"\.")):
        convert(broken, variant="dn_gray")
    extra = {**state, "body.3.extra.weight": np.zeros(3, "float32")}
    with pytest.raises(CheckpointError, match=r"unexpected key 'body\.3\.extra\.weight'"):
        convert(extra, variant="dn_gray")
    bad = {**state, key: np.zeros((16, 16, 5, 5), "float32")}
    with pytest.raises(CheckpointError, match="does not fit"):
        convert(bad, variant="dn_gray")


def test_unreadable_files(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_state_dict(tmp_path / "nope.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_state_dict(junk)
    other = tmp_path / "x.h5"
    other.write_bytes(b"")
    with pytest.raises(CheckpointError, match="unsupported"):
        load_state_dict(other)


def test_not_a_state_dict_mapping():
    with pytest.raises(CheckpointError, match="head.0.weight"):
        convert({"foo": np.zeros(1)})


def test_pt_file_loaded_with_weights_only(tmp_path, official_dir):
    torch = pytest.importorskip("torch", reason="torch extra not installed")
    state = load_state_dict(official_dir / "car_small.npz")
    path = tmp_path / "car.pt"
    torch.save({k: torch.from_numpy(v) for k, v in state.items()}, path)
    model = convert(path, variant="car")
    assert model.rnan_config.n_feats == 16
    evil = tmp_path / "evil.pt"
    torch.save({"head.0.weight": object()}, evil)
    with pytest.raises(CheckpointError, match="cannot read"):
        load_state_dict(evil)
