"""Tests of rnan_keras/export/serving.py: the serving graph computes the Keras model."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from rnan_keras.errors import ExportError
from rnan_keras.export.serving import (
    OUTPUT_NAME,
    ServingModule,
    ServingSpec,
    core_model,
    expected_output,
)

from .conftest import OVERLAP, TILE, make_image


def test_core_model_equals_model_on_even_sizes(dn_model, sr_model):
    for model in (dn_model, sr_model):
        x = make_image(16, 20)
        core = core_model(model)
        np.testing.assert_allclose(core(x).numpy(), model(x).numpy(), atol=1e-4)


def test_core_model_forces_dense_non_local(dn_model):
    core = core_model(dn_model)
    modes = {layer.mode for layer in _walk(core) if type(layer).__name__ == "NonLocalBlock"}
    assert modes == {"dense"}


def _walk(layer):
    yield layer
    for sub in getattr(layer, "_layers", []) or []:
        yield from _walk(sub)


@pytest.fixture(scope="module")
def dn_serving(dn_model):
    return ServingModule(dn_model, ServingSpec(tile=TILE, overlap=OVERLAP))


@pytest.mark.parametrize("shape", [(17, 23), (1, 1), (24, 24)])
def test_serve_within_one_tile_equals_keras(dn_model, dn_serving, shape):
    x = make_image(*shape, batch=2)
    out = dn_serving.serve(tf.constant(x))[OUTPUT_NAME].numpy()
    np.testing.assert_allclose(out, dn_model(x).numpy(), atol=1e-3)


def test_serve_sr_output_is_scaled(sr_model):
    module = ServingModule(sr_model, ServingSpec(tile=TILE, overlap=OVERLAP))
    x = make_image(17, 23)
    out = module(x)
    assert out.shape == (1, 34, 46, 3)
    np.testing.assert_allclose(out, sr_model(x).numpy(), atol=1e-3)


def test_uint8_serving_rounds_and_clips(dn_model):
    module = ServingModule(dn_model, ServingSpec(tile=TILE, overlap=OVERLAP, uint8=True))
    x = np.clip(np.round(make_image(17, 23)), 0, 255).astype(np.uint8)
    out = module(x)
    assert out.dtype == np.uint8
    want = np.clip(np.round(dn_model(x.astype(np.float32)).numpy()), 0, 255)
    assert np.abs(out.astype(np.float32) - want).max() <= 1
    np.testing.assert_array_equal(out, expected_output(dn_model, x, module.spec))


def test_expected_output_tiles_large_inputs(dn_model, dn_serving):
    x = make_image(24, 40)
    tiled = expected_output(dn_model, x, dn_serving.spec)
    np.testing.assert_allclose(dn_serving(x), tiled, atol=1e-3)
    # The tiled result is close to, but not the same as, whole-image attention.
    assert np.abs(tiled - dn_model(x).numpy()).max() > 1e-4


def test_spec_rejects_odd_tile():
    with pytest.raises(ExportError, match="even"):
        ServingSpec(tile=25)
