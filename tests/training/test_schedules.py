"""Tests of the paper learning-rate schedule."""

from __future__ import annotations

import keras
import numpy as np

from rnan_keras.training.schedules import paper_schedule


def test_halves_every_decay_steps():
    s = paper_schedule(1e-4, 200_000)
    got = [float(s(step)) for step in (0, 199_999, 200_000, 399_999, 400_000, 1_000_000)]
    want = [1e-4, 1e-4, 5e-5, 5e-5, 2.5e-5, 1e-4 / 32]
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_serializes_with_optimizer():
    opt = keras.optimizers.Adam(learning_rate=paper_schedule(2e-4, 10))
    clone = keras.optimizers.Adam.from_config(opt.get_config())
    assert float(clone.learning_rate) == float(opt.learning_rate)
    np.testing.assert_allclose(float(clone._learning_rate(25)), 5e-5, rtol=1e-6)
