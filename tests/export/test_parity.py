"""Tests of rnan_keras/export/parity.py: probe sizes, probes, comparison figures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnan_keras.export.parity import (
    Probe,
    compare,
    default_probe_sizes,
    load_reference_image,
    make_probes,
    synthetic_image,
)


def test_default_probe_sizes():
    small, large = default_probe_sizes(96)
    assert all(v % 2 == 1 for v in (*small, *large))
    assert max(small) <= 96 and min(large) > 96  # one tile, then several tiles
    assert all(v % 2 == 0 for size in default_probe_sizes(96, "demosaic") for v in size)
    assert default_probe_sizes(None) == [(31, 45), (47, 63)]
    assert max(default_probe_sizes(24)[0]) <= 24


@pytest.mark.parametrize("variant,scale,channels", [("sr_x3", 3, 3), ("car", 1, 1),
                                                     ("demosaic", 1, 3)])
def test_make_probes_shapes(variant, scale, channels):
    image = synthetic_image(80, 90)
    probes, source = make_probes(variant, scale, channels, [(9, 13)], image=image)
    (probe,) = probes
    assert source == "array"
    assert probe.image.shape == (1, 9, 13, channels)
    assert probe.clean.shape == (1, 9 * scale, 13 * scale, channels)
    if variant == "demosaic":  # GRBG: only one colour per pixel is kept
        assert ((probe.image > 0).sum(axis=-1) <= 1).all()


def test_make_probes_uint8_and_mirrored_crop():
    probes, _ = make_probes("dn_rgb", 1, 3, [(40, 50)], image=synthetic_image(16, 16),
                            uint8=True)
    assert probes[0].image.dtype == np.uint8 and probes[0].image.shape == (1, 40, 50, 3)


def test_reference_image_is_real_when_available(shared_dir):
    image, source = load_reference_image()
    assert image.dtype == np.float32 and image.ndim == 3 and image.max() > 1
    assert source.endswith(".png") and not source.startswith("/")


def test_compare_figures():
    clean = np.full((1, 4, 4, 1), 100.0, np.float32)
    probe = Probe(image=clean, clean=clean)
    keras_out = clean + 10.0  # PSNR vs clean: 10 log10(255^2 / 100)
    exported = keras_out.copy()
    exported[0, 0, 0, 0] += 2.0
    fig = compare(exported, keras_out, probe)
    assert fig["max_abs_diff"] == pytest.approx(2.0)
    assert fig["mean_abs_diff"] == pytest.approx(2.0 / 16)
    assert fig["psnr_keras_db"] == pytest.approx(10 * math.log10(255**2 / 100))
    mse = (15 * 100 + 144) / 16
    assert fig["psnr_export_db"] == pytest.approx(10 * math.log10(255**2 / mse))
    assert fig["psnr_change_db"] < 0 and fig["finite"]
    assert compare(keras_out, keras_out, probe)["psnr_vs_keras_db"] == "inf"
