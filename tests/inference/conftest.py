"""Models shared by the inference tests.

``local_model(channels)`` is a 3-layer conv net (receptive-field radius 3) with a global
residual: fast, deterministic and local, so tiled and untiled outputs must agree exactly.
``sr_local_model`` adds a x2 pixel shuffle. ``tag_model`` attaches an ``rnan_config``-like
description (variant name) so that restore() treats a local model as e.g. a ``car``
model.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from rnan_keras.tasks import get_task


def make_local_model(channels: int = 3, scale: int = 1, seed: int = 0) -> keras.Model:
    init = keras.initializers.RandomNormal(stddev=0.2, seed=seed)
    x_in = keras.Input(shape=(None, None, channels))
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", kernel_initializer=init)(
        x_in
    )
    h = keras.layers.Conv2D(8, 3, padding="same", activation="tanh", kernel_initializer=init)(h)
    h = keras.layers.Conv2D(
        channels * scale * scale, 3, padding="same", kernel_initializer=init
    )(h)
    if scale == 1:
        out = keras.layers.Add()([x_in, keras.layers.Rescaling(20.0)(h)])
    else:
        out = keras.layers.Rescaling(60.0, offset=128.0)(
            keras.layers.Lambda(lambda t: __import__("tensorflow").nn.depth_to_space(t, scale))(h)
        )
    return keras.Model(x_in, out)


def tag_model(model: keras.Model, variant: str, scale: int = 1) -> keras.Model:
    model.rnan_config = SimpleNamespace(
        variant=variant, task=get_task(variant).kind, scale=scale, n_colors=int(model.inputs[0].shape[-1]), n_feats=8,
        use_non_local=False, non_local_mode="auto", chunk_size=1024, max_dense_positions=9216,
    )
    return model


@pytest.fixture(scope="session")
def local_rgb() -> keras.Model:
    return make_local_model(3)


@pytest.fixture(scope="session")
def local_gray() -> keras.Model:
    return make_local_model(1, seed=1)


@pytest.fixture(scope="session")
def local_sr2() -> keras.Model:
    return make_local_model(3, scale=2, seed=2)


@pytest.fixture(scope="session")
def tiny_rnan():
    from rnan_keras import build_model

    keras.utils.set_random_seed(0)
    return build_model("dn_rgb", n_feats=8, n_resgroups=2)


@pytest.fixture(scope="session")
def official_dn_rgb(official_dir: Path):
    """The official small DN_RGB model (n_feats=16, 10 groups) with the fixture weights.

    Its weights were drawn so that activations stay O(1) and the non-local softmax is
    neither uniform nor one-hot, so it behaves like a trained model for tiling checks.
    """
    from rnan_keras.convert.official import convert

    return convert(official_dir / "dn_rgb_small.npz", variant="dn_rgb")


@pytest.fixture(scope="session")
def kodim_crop(shared_dir: Path) -> np.ndarray:
    from rnan_keras.data.image_io import read_image

    return read_image(shared_dir / "data/testsets/Kodak24/kodim01.png")[:96, :96]


@pytest.fixture(scope="session")
def make_local():
    """The :func:`make_local_model` factory (test modules cannot import conftest)."""
    return make_local_model


@pytest.fixture(scope="session")
def tag():
    """The :func:`tag_model` helper."""
    return tag_model
