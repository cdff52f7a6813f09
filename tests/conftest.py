"""Shared pytest fixtures and helpers.

``shared_dir`` points at ``../shared`` (benchmark images and official fixtures); tests that
need it skip with a clear reason when it is absent. ``assert_layer_roundtrip`` checks that a
layer survives ``get_config`` and a ``.keras`` file with identical outputs.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two worker processes on CI's two cores: one TensorFlow compute thread
    # each (set before TF starts; subprocesses inherit it), since TF's spinning thread pools
    # slow both processes down when they oversubscribe the cores.
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RNAN_SHARED_DIR", REPO.parent / "shared"))


SEED = 1234


@pytest.fixture(autouse=True)
def _seed_everything():
    """Seed Python, numpy and TensorFlow (via Keras) before every test: any test that draws
    random numbers without its own seed still sees the same ones whatever ran before it."""
    import keras

    keras.utils.set_random_seed(SEED)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED} (set RNAN_SHARED_DIR)")
    return SHARED


@pytest.fixture(scope="session")
def official_dir(shared_dir: Path) -> Path:
    path = shared_dir / "reference" / "official"
    if not path.is_dir():
        pytest.skip(f"official fixtures not found at {path}")
    return path


def assert_layer_roundtrip(layer, inputs, tmp_path: Path, atol: float = 1e-5) -> None:
    """Round-trip ``layer`` through get_config and a ``.keras`` file (safe_mode=True).

    ``inputs`` is one numpy array (NHWC) or a list of them (passed to the layer as a list);
    the layer is wrapped in a
    functional model with dynamic H and W, saved, reloaded and compared.
    """
    import keras

    arrays = inputs if isinstance(inputs, list | tuple) else [inputs]
    sym = [keras.Input(shape=(None, None, a.shape[-1])) for a in arrays]
    out = layer(sym) if len(sym) > 1 else layer(sym[0])
    model = keras.Model(sym if len(sym) > 1 else sym[0], out)
    expected = model(arrays if len(arrays) > 1 else arrays[0], training=False).numpy()

    clone = layer.__class__.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()

    path = tmp_path / f"{layer.name}.keras"
    model.save(path)
    reloaded = keras.models.load_model(path, safe_mode=True)
    got = reloaded(arrays if len(arrays) > 1 else arrays[0], training=False).numpy()
    np.testing.assert_allclose(got, expected, atol=atol, rtol=0)


REPO = Path(__file__).resolve().parents[1]


def load_script(relative: str):
    """Import a script of the repo (``scripts/x.py``, ``exports/y.py``) as a fresh module.

    Its folder is put on ``sys.path`` first, so a script may import its neighbours.
    """
    import importlib.util
    import sys

    path = REPO / relative
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[path.stem] = module
    return module
