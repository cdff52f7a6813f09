"""Tests of atomic checkpoints: round trip, pruning, corrupt/truncated fallback."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from rnan_keras.errors import CheckpointError
from rnan_keras.training.checkpoint import CheckpointManager, average_model_weights


def _model_and_optimizer(seed: int = 0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((None, None, 3))
    model = keras.Model(inp, keras.layers.Conv2D(3, 3, padding="same")(inp))
    opt = keras.optimizers.Adam(1e-2)
    model.compile(opt, "mse")
    opt.build(model.trainable_variables)
    return model, opt


def _train_steps(model, n: int) -> None:
    x = np.random.default_rng(0).uniform(0, 1, (2, 8, 8, 3)).astype("float32")
    model.fit(x, x * 0.5, epochs=n, batch_size=2, verbose=0)


def _opt_state(opt) -> list[np.ndarray]:
    return [np.array(v.numpy()) for v in opt.variables]


def test_roundtrip_restores_weights_and_optimizer(tmp_path):
    model, opt = _model_and_optimizer()
    _train_steps(model, 3)
    mgr = CheckpointManager(tmp_path, keep=2)
    path = mgr.save(model, opt, {"step": 3, "extra": "x"})
    assert path.name == "ckpt-00000003.npz"
    assert not list(tmp_path.glob(".*.tmp")), "temporary file left behind"

    fresh, fresh_opt = _model_and_optimizer(seed=1)
    assert not np.allclose(fresh.get_weights()[0], model.get_weights()[0])
    ckpt = mgr.restore_latest(fresh, fresh_opt)
    assert ckpt.step == 3 and ckpt.meta["extra"] == "x"
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert int(fresh_opt.iterations.numpy()) == 3
    for a, b in zip(_opt_state(fresh_opt), _opt_state(opt)):
        np.testing.assert_array_equal(a, b)


def test_keeps_last_two(tmp_path):
    model, opt = _model_and_optimizer()
    mgr = CheckpointManager(tmp_path, keep=2)
    for step in (5, 10, 15):
        mgr.save(model, opt, {"step": step})
    assert [s for s, _ in mgr.list()] == [15, 10]


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty"])
def test_corrupt_latest_falls_back_with_warning(tmp_path, damage):
    model, opt = _model_and_optimizer()
    mgr = CheckpointManager(tmp_path, keep=2)
    _train_steps(model, 1)
    mgr.save(model, opt, {"step": 1})
    good = [w.copy() for w in model.get_weights()]
    _train_steps(model, 1)
    latest = mgr.save(model, opt, {"step": 2})
    data = latest.read_bytes()
    if damage == "truncate":
        latest.write_bytes(data[: len(data) // 2])
    elif damage == "flip":  # flip bytes inside the first weight array -> CRC mismatch
        pos = data.index(b"m/0.npy") + 200
        latest.write_bytes(data[:pos] + bytes(b ^ 0xFF for b in data[pos:pos + 8])
                           + data[pos + 8:])
    else:
        latest.write_bytes(b"")

    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        CheckpointManager.load(latest)
    fresh, fresh_opt = _model_and_optimizer(seed=3)
    with pytest.warns(RuntimeWarning, match="skipping checkpoint at step 2"):
        ckpt = mgr.restore_latest(fresh, fresh_opt)
    assert ckpt.step == 1
    assert int(fresh_opt.iterations.numpy()) == 1
    for a, b in zip(fresh.get_weights(), good):
        np.testing.assert_array_equal(a, b)


def test_mismatched_architecture_is_rejected(tmp_path):
    model, opt = _model_and_optimizer()
    mgr = CheckpointManager(tmp_path)
    mgr.save(model, opt, {"step": 1})
    inp = keras.Input((None, None, 3))
    other = keras.Model(inp, keras.layers.Conv2D(3, 5, padding="same")(inp))
    other_opt = keras.optimizers.Adam()
    other_opt.build(other.trainable_variables)
    before = [w.copy() for w in other.get_weights()]
    with pytest.raises(CheckpointError, match="shape"):
        CheckpointManager.apply(CheckpointManager.load(mgr.list()[0][1]), other, other_opt)
    for a, b in zip(other.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_checkpoint_with_other_counts_is_rejected(tmp_path):
    model, opt = _model_and_optimizer()
    mgr = CheckpointManager(tmp_path)
    mgr.save(model, opt, {"step": 1})
    ckpt = CheckpointManager.load(mgr.list()[0][1])
    inp = keras.Input((None, None, 3))
    deeper = keras.Model(inp, keras.layers.Conv2D(3, 3, padding="same")(
        keras.layers.Conv2D(3, 3, padding="same")(inp)))
    with pytest.raises(CheckpointError, match="model weights, the run has 4"):
        CheckpointManager.apply(ckpt, deeper, None)
    with pytest.raises(CheckpointError, match="optimizer variables, the run has 0"):
        CheckpointManager.apply(ckpt, model, None)  # the checkpoint holds Adam's state


def test_average_model_weights_is_the_mean_of_the_checkpoints(tmp_path):
    model, opt = _model_and_optimizer()
    mgr = CheckpointManager(tmp_path, keep=3)
    saved = []
    for step in (1, 2, 3):
        _train_steps(model, 1)
        saved.append([w.copy() for w in model.get_weights()])
        mgr.save(model, opt, {"step": step})
    assert any(not np.array_equal(a, b) for a, b in zip(saved[0], saved[2]))  # it trained
    paths = [p for _, p in reversed(mgr.list())]
    got = average_model_weights(paths)
    for i, w in enumerate(got):
        assert w.dtype == saved[0][i].dtype
        want = (saved[0][i].astype(np.float64) + saved[1][i] + saved[2][i]) / 3
        # the float64 mean rounded once to float32: within half a float32 ulp of the largest
        np.testing.assert_allclose(w, want, rtol=0,
                                   atol=np.spacing(np.abs(want).max().astype(np.float32)) / 2)
    one = average_model_weights(paths[:1])  # the mean of one checkpoint is itself
    for a, b in zip(one, saved[0], strict=True):
        np.testing.assert_array_equal(a, b)


def test_average_model_weights_rejects_other_architectures_and_nothing(tmp_path):
    model, opt = _model_and_optimizer()
    CheckpointManager(tmp_path / "a").save(model, opt, {"step": 1})
    inp = keras.Input((None, None, 3))
    other = keras.Model(inp, keras.layers.Conv2D(3, 5, padding="same")(inp))
    other_opt = keras.optimizers.Adam()
    other_opt.build(other.trainable_variables)
    CheckpointManager(tmp_path / "b").save(other, other_opt, {"step": 1})
    with pytest.raises(ValueError, match="differ in number or shape"):
        average_model_weights([tmp_path / "a" / "ckpt-00000001.npz",
                               tmp_path / "b" / "ckpt-00000001.npz"])
    with pytest.raises(ValueError, match="no checkpoints"):
        average_model_weights([])
