"""A bounded run of ``scripts/fuzz.py``: 2 000 mutated PNG / JPEG / npz / .keras inputs.

Only documented exceptions (subclasses of :class:`rnan_keras.errors.RNANError`) may escape
``read_image``, ``load_state_dict`` (+ ``infer_config`` / ``load_official_weights``) and
``load_model_file``; no input may hang or return a malformed result. The script runs the
same loop for longer (``--iterations``, ``--seconds``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fuzz.py"


@pytest.fixture(scope="module")
def fuzz_script():
    spec = importlib.util.spec_from_file_location("rnan_fuzz_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


def test_mutations_are_seeded(fuzz_script):
    import numpy as np

    data = bytes(range(256)) * 4
    for target in fuzz_script.TARGETS[:2]:
        a = fuzz_script.mutate(data, target, np.random.default_rng([5, 1]))
        b = fuzz_script.mutate(data, target, np.random.default_rng([5, 1]))
        assert a == b and a != data


def test_fuzz_2000_inputs(fuzz_script, tmp_path):
    # .keras loads rebuild a model (~0.3 s each): a small share keeps this test short.
    weights = {"png": 0.40, "jpeg": 0.35, "npz": 0.235, "keras": 0.015}
    result = fuzz_script.fuzz(iterations=2000, seed=0, weights=weights, timeout=30.0,
                              save_failures=tmp_path / "failures")
    print(result.table())
    assert result.inputs == 2000
    assert result.failures == [], result.table()
    counts = result.outcome_counts()
    assert set(counts) == set(fuzz_script.TARGETS)
    # The mutations reach both sides: some inputs still load, many are refused.
    for target, outcomes in counts.items():
        assert outcomes.get("ok", 0) > 0, (target, outcomes)
        assert sum(n for k, n in outcomes.items() if k.startswith("error:")) > 0, target
