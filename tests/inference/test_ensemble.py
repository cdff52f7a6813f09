"""Self-ensemble x8: transforms, inverses, and averaging."""

from __future__ import annotations

import numpy as np

from rnan_keras.inference import restore
from rnan_keras.inference.ensemble import (
    TRANSFORMS,
    forward_transform,
    inverse_transform,
    self_ensemble,
)


def test_eight_distinct_invertible_transforms():
    x = np.arange(3 * 5 * 2, dtype=np.float32).reshape(3, 5, 2)
    seen = set()
    for k, flip in TRANSFORMS:
        t = forward_transform(x, k, flip)
        seen.add(t.tobytes() + bytes(t.shape))
        np.testing.assert_array_equal(inverse_transform(t, k, flip), x)
    assert len(TRANSFORMS) == 8 and len(seen) == 8


def test_equivariant_function_is_unchanged():
    x = np.random.default_rng(0).uniform(0, 255, (7, 9, 3)).astype(np.float32)
    np.testing.assert_allclose(self_ensemble(lambda v: v * 0.5 + 3, x), x * 0.5 + 3, atol=1e-4)


def test_ensemble_averages_the_views():
    # f adds a ramp along the width: a flip/rotation-dependent bias. The 8-view average of
    # the inverse-transformed ramps is the mean of the ramp over the symmetry group.
    x = np.zeros((4, 4, 1), np.float32)
    ramp = np.arange(4, dtype=np.float32)[None, :, None]

    def f(v):
        return v + ramp

    out = self_ensemble(f, x)
    expected = np.mean(
        [inverse_transform(forward_transform(x, k, fl) + ramp, k, fl) for k, fl in TRANSFORMS],
        axis=0,
    )
    np.testing.assert_allclose(out, expected, atol=1e-6)
    np.testing.assert_allclose(out, 1.5, atol=1e-6)  # every pixel sees every ramp value


def test_sr_shapes():
    x = np.random.default_rng(0).uniform(0, 255, (5, 8, 3)).astype(np.float32)
    out = self_ensemble(lambda v: np.kron(v, np.ones((2, 2, 1), np.float32)), x)
    assert out.shape == (10, 16, 3)


def test_restore_with_ensemble_differs_from_plain(tiny_rnan):
    x = np.random.default_rng(1).integers(0, 256, (24, 30, 3)).astype(np.uint8)
    plain = restore(x, tiny_rnan, tile="none").astype(int)
    ens = restore(x, tiny_rnan, tile="none", ensemble=True).astype(int)
    assert ens.shape == plain.shape == x.shape
    assert np.abs(ens - plain).max() > 0
