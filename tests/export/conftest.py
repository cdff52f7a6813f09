"""Fixtures of the export tests: tiny, well-conditioned random models and test inputs."""

from __future__ import annotations

import numpy as np
import pytest

#: Tiling used by the export tests: 17x23 pads to 18x24 (one tile, so the export must equal
#: the plain Keras model) and 24x32 spans two tiles (so the tile loop is exercised).
TILE, OVERLAP = 24, 4
SIZES = [(17, 23), (24, 32)]


@pytest.fixture(scope="session")
def dn_model():
    from rnan_keras.export.conditioning import conditioned_random_model

    return conditioned_random_model("dn_rgb", n_feats=8, n_resgroups=2)


@pytest.fixture(scope="session")
def sr_model():
    from rnan_keras.export.conditioning import conditioned_random_model

    return conditioned_random_model("sr_x2", n_feats=8, n_resgroups=2)


def make_image(h: int, w: int, c: int = 3, batch: int = 1, seed: int = 0) -> np.ndarray:
    """A noisy crop of the synthetic test card: float32 (batch, h, w, c) on 0-255."""
    from rnan_keras.export.parity import synthetic_image

    rng = np.random.default_rng(seed)
    card = synthetic_image(64, 64)[:h, :w, :c]
    out = [card + rng.normal(0, 15, card.shape) for _ in range(batch)]
    return np.stack(out).astype(np.float32)
