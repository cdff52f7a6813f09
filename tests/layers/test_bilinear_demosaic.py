"""BilinearDemosaic equals neighbour-averaging bilinear demosaicing; demosaic skip uses it."""

from __future__ import annotations

import numpy as np
import pytest

import rnan_keras
from rnan_keras.data.mosaic import BAYER_PATTERNS, bayer_masks, bayer_mosaic
from rnan_keras.errors import ConfigError
from rnan_keras.layers.bilinear_demosaic import BilinearDemosaic
from tests.conftest import assert_layer_roundtrip


def _reference(rgb: np.ndarray, pattern: str) -> np.ndarray:
    """Bilinear demosaic written per pixel: keep the sample, else average the nearest
    samples of that colour (4-neighbours, or the 2 in line, or the 4 diagonals), with the
    image mirrored about its edge pixels."""
    h, w, _ = rgb.shape
    mask = np.tile(bayer_masks(pattern), ((h + 1) // 2, (w + 1) // 2, 1))[:h, :w]
    mosaic = rgb * mask

    def at(i, j, c):
        i = -i if i < 0 else (2 * (h - 1) - i if i >= h else i)
        j = -j if j < 0 else (2 * (w - 1) - j if j >= w else j)
        return mosaic[i, j, c], mask[i, j, c]

    out = np.zeros_like(rgb, dtype=np.float64)
    for i in range(h):
        for j in range(w):
            for c in range(3):
                if mask[i, j, c]:
                    out[i, j, c] = mosaic[i, j, c]
                    continue
                for ring in (((0, 1), (0, -1), (1, 0), (-1, 0)),
                             ((1, 1), (1, -1), (-1, 1), (-1, -1))):
                    samples = [at(i + di, j + dj, c) for di, dj in ring]
                    known = [v for v, m in samples if m]
                    if known:
                        out[i, j, c] = np.mean(known)
                        break
    return out


@pytest.mark.parametrize("pattern", BAYER_PATTERNS)
def test_matches_reference_for_every_pattern_and_odd_sizes(pattern):
    rgb = np.random.default_rng(3).uniform(0, 255, (9, 11, 3)).astype("float32")
    mosaic = np.asarray(bayer_mosaic(rgb, pattern))
    got = np.asarray(BilinearDemosaic()(mosaic[None]))[0]
    want = _reference(rgb, pattern)
    # each output is a sum of <= 4 products of values <= 255 in float32
    np.testing.assert_allclose(got, want, rtol=0, atol=4 * 255 * np.finfo("float32").eps)


def test_constant_image_is_exact_and_samples_pass_through():
    rgb = np.full((6, 8, 3), [10.0, 120.0, 250.0], "float32")
    mosaic = np.asarray(bayer_mosaic(rgb, "GRBG"))
    got = np.asarray(BilinearDemosaic()(mosaic[None]))[0]
    np.testing.assert_allclose(got, rgb, atol=1e-4)
    keep = mosaic > 0
    np.testing.assert_array_equal(got[keep], mosaic[keep])


def test_roundtrip(tmp_path):
    x = np.random.default_rng(0).uniform(0, 255, (1, 6, 8, 3)).astype("float32")
    assert_layer_roundtrip(BilinearDemosaic(), x, tmp_path)


def test_demosaic_model_with_skip_starts_at_bilinear():
    kwargs = {"n_feats": 8, "n_resgroups": 2}
    model = rnan_keras.build_model("demosaic", zero_init_tail=True, demosaic_bilinear_skip=True,
                                   **kwargs)
    plain = rnan_keras.build_model("demosaic", zero_init_tail=True, **kwargs)
    assert model.count_params() == plain.count_params()
    rgb = np.random.default_rng(1).uniform(0, 255, (10, 12, 3)).astype("float32")
    mosaic = np.asarray(bayer_mosaic(rgb, "GRBG"))[None]
    np.testing.assert_allclose(model(mosaic)[0], _reference(rgb, "GRBG"), atol=1e-3)
    np.testing.assert_allclose(plain(mosaic)[0], mosaic[0], atol=1e-3)  # without: identity


def test_skip_off_by_default_and_only_for_demosaic():
    assert rnan_keras.build_model("demosaic", n_feats=8, n_resgroups=2).rnan_config \
        .demosaic_bilinear_skip is False
    with pytest.raises(ConfigError, match="demosaic variant only"):
        rnan_keras.build_model("dn_rgb", demosaic_bilinear_skip=True)
