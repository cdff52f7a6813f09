"""End-to-end tests of rnan_keras.training.trainer.train on tiny models (a few steps each)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
import keras

from rnan_keras.errors import ConfigError, TrainingDivergedError
from rnan_keras.training.checkpoint import CheckpointManager
from rnan_keras.training.trainer import train
from tests.training.conftest import fixed_batches, read_train_log


def test_loss_decreases_on_overfit_set(tiny_config):
    cfg = tiny_config(steps=20, ckpt_every=5, lr=2e-3)
    out = io.StringIO()
    summary = train(cfg, train_dataset=fixed_batches(), stream=out)
    cfg_out = Path(cfg.out)
    rows = read_train_log(cfg_out)
    assert [int(r["step"]) for r in rows] == [5, 10, 15, 20]
    first, last = float(rows[0]["loss"]), float(rows[-1]["loss"])
    assert last < 0.5 * first, (first, last)
    assert summary["steps"] == 20 and summary["optimizer_iterations"] == 20
    assert summary["status"] == "complete"
    # XLA by default only with a GPU (slower than a plain graph on this CPU).
    assert summary["jit_compile"] is bool(tf.config.list_physical_devices("GPU"))
    # Finished-run folder contents.
    for name in ("model.keras", "config.json", "summary.json", "logs/train.csv"):
        assert (cfg_out / name).is_file(), name
    saved = json.loads((cfg_out / "summary.json").read_text())
    assert saved["parameters"] == keras.models.load_model(cfg_out / "model.keras").count_params()
    assert "step 20/20" in out.getvalue()  # plain progress lines when not on a terminal


def test_pipeline_validation_best_model_and_tensorboard(tiny_config, val_dir):
    cfg = tiny_config(steps=6, ckpt_every=3, val_dir=str(val_dir), tensorboard=True,
                      lr_decay_steps=4)
    summary = train(cfg, stream=io.StringIO())  # the real folder pipeline
    run = Path(cfg.out)
    assert np.isfinite(summary["final_val_psnr"]) and summary["best_step"] in (3, 6)
    assert summary["best_val_psnr"] >= summary["final_val_psnr"]
    assert (run / "best.keras").is_file()
    rows = read_train_log(run)
    assert [r["val_psnr"] != "" for r in rows] == [True, True]
    # The schedule halved the learning rate after 4 steps.
    assert float(rows[0]["lr"]) == pytest.approx(1e-3) and float(rows[1]["lr"]) == \
        pytest.approx(5e-4)
    events = list((run / "logs" / "tensorboard").glob("events.out.tfevents.*"))
    tags = set()
    for ev in tf.compat.v1.train.summary_iterator(str(events[0])):
        tags |= {v.tag for v in ev.summary.value}
    assert {"val/psnr", "val/degraded_restored_clean", "train/loss", "train/lr"} <= tags
    # A run's .keras file loads with plain Keras after only `import rnan_keras`: the package,
    # not just the trainer, registers the PSNR metric the model was compiled with.
    code = ("import sys, keras, rnan_keras; "
            "print(keras.models.load_model(sys.argv[1]).count_params())")
    res = subprocess.run([sys.executable, "-c", code, str(run / "best.keras")],
                         capture_output=True, text=True, check=False,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert res.returncode == 0, res.stderr[-1500:]
    assert int(res.stdout.split()[-1]) == summary["parameters"]


def test_resume_with_another_validation_set_rescores_the_best_model(tiny_config, val_dir,
                                                                     tmp_path):
    from rnan_keras.training.validation import (
        load_eval_pairs,
        make_predictor,
        pairs_fingerprint,
        validate,
    )
    from tests.training.conftest import make_image_folder

    run = Path(tiny_config().out)
    train(tiny_config(steps=3, ckpt_every=3, val_dir=str(val_dir)),
          train_dataset=fixed_batches(), stream=io.StringIO())
    first_best = json.loads((run / "summary.json").read_text())["best_val_psnr"]
    # Same set: the fingerprint matches and the recorded best is kept as it is.
    out = io.StringIO()
    train(tiny_config(steps=4, ckpt_every=1, val_dir=str(val_dir)),
          train_dataset=fixed_batches(), stream=out)
    assert "validation set changed" not in out.getvalue()
    # Another set: the best model is scored on it before training goes on.
    other = make_image_folder(tmp_path / "other_val", 2, (32, 40), seed=7)
    pairs = load_eval_pairs("dn_rgb", str(other), sigma=25.0)
    best = keras.models.load_model(run / "best.keras", compile=False)
    expected = validate(make_predictor(best), pairs, "dn_rgb")[0]
    assert abs(expected - first_best) > 0.01  # the two sets score differently
    out = io.StringIO()
    summary = train(tiny_config(steps=5, ckpt_every=1, val_dir=str(other)),
                    train_dataset=fixed_batches(), stream=out)
    assert f"-> {expected:.2f} dB" in out.getvalue()
    # the new best is the larger of the re-scored best and step 5's PSNR on the new set
    assert summary["best_val_psnr"] == pytest.approx(max(expected, summary["final_val_psnr"]),
                                                     abs=1e-6)
    meta = CheckpointManager.load(CheckpointManager(run / "checkpoints").list()[0][1]).meta
    assert meta["val_fingerprint"] == pairs_fingerprint(pairs)


def test_resume_continues_optimizer_and_falls_back_on_corrupt_checkpoint(tiny_config):
    cfg = tiny_config(steps=10, ckpt_every=5)
    train(cfg, train_dataset=fixed_batches(), stream=io.StringIO())
    mgr = CheckpointManager(Path(cfg.out) / "checkpoints")
    assert [s for s, _ in mgr.list()] == [10, 5]
    saved5 = CheckpointManager.load(mgr.list()[1][1])
    assert saved5.meta["optimizer_iterations"] == 5
    # Truncate the newest checkpoint: the next run must warn and resume from step 5.
    latest = mgr.list()[0][1]
    latest.write_bytes(latest.read_bytes()[:1000])
    out = io.StringIO()
    # Not pytest.warns: it records with the "always" filter and re-emits everything else,
    # which would bypass the suite's filter of a third-party warning (setup.cfg).
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        summary = train(tiny_config(steps=12, ckpt_every=5), train_dataset=fixed_batches(),
                        stream=out)
    assert [str(w.message) for w in caught if w.category is RuntimeWarning
            and "skipping checkpoint at step 10" in str(w.message)]
    assert "resuming from ckpt-00000005.npz: step 5, optimizer iterations 5" in out.getvalue()
    assert summary["resumed_from_step"] == 5
    assert summary["steps"] == 12 and summary["optimizer_iterations"] == 12
    assert [s for s, _ in mgr.list()] == [12, 10]  # rewritten 10, then the final step
    assert [int(r["step"]) for r in read_train_log(Path(cfg.out))] == [5, 10, 12]


def test_resume_refuses_a_different_model(tiny_config):
    from rnan_keras.training.config import save_config

    run = Path(tiny_config().out)
    save_config(tiny_config(model={"n_feats": 16, "n_resgroups": 2}), run / "config.json")
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "ckpt-00000005.npz").write_bytes(b"x")
    with pytest.raises(ConfigError, match="different model"):
        train(tiny_config(steps=10), train_dataset=fixed_batches(), stream=io.StringIO())


def test_nan_stops_cleanly(tiny_config, capsys):
    cfg = tiny_config(steps=20, ckpt_every=5)
    with pytest.raises(TrainingDivergedError, match="NaN/inf at step 7.*ckpt-00000005"):
        train(cfg, train_dataset=fixed_batches(nan_from=6), stream=io.StringIO())
    assert "loss became nan at step 7" in capsys.readouterr().err
    run = Path(cfg.out)
    assert [s for s, _ in CheckpointManager(run / "checkpoints").list()] == [5]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["diverged_at_step"] == 7
    assert not (run / "model.keras").exists()


def test_sigterm_stops_after_the_step_with_a_resumable_checkpoint(tiny_config, monkeypatch,
                                                                  capsys):
    from rnan_keras.training import callbacks as cb

    counted = cb.StepCounter.on_train_batch_end

    def count_and_signal(self, batch, logs=None):
        counted(self, batch, logs)
        if self.state.step == 7:  # as `kill PID` would, in the middle of an interval
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(cb.StepCounter, "on_train_batch_end", count_and_signal)
    before = signal.getsignal(signal.SIGTERM)
    cfg = tiny_config(steps=20, ckpt_every=5)
    summary = train(cfg, train_dataset=fixed_batches(), stream=io.StringIO())
    assert "SIGTERM: stopping after this step" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is before  # handler restored
    run = Path(cfg.out)
    assert summary["status"] == "stopped" and summary["stopped_by"] == "SIGTERM"
    assert summary["steps"] == 7 and summary["optimizer_iterations"] == 7
    assert json.loads((run / "summary.json").read_text())["status"] == "stopped"
    assert CheckpointManager(run / "checkpoints").list()[0][0] == 7  # newest first
    assert [int(r["step"]) for r in read_train_log(run)] == [5, 7]
    assert (run / "model.keras").is_file()
    monkeypatch.setattr(cb.StepCounter, "on_train_batch_end", counted)
    resumed = train(cfg, train_dataset=fixed_batches(), stream=io.StringIO())
    assert resumed["status"] == "complete" and resumed["stopped_by"] is None
    assert resumed["resumed_from_step"] == 7 and resumed["optimizer_iterations"] == 20
    assert [int(r["step"]) for r in read_train_log(run)] == [5, 7, 10, 15, 20]


def test_a_second_signal_interrupts_at_once():
    from rnan_keras.training import callbacks as cb

    before = signal.getsignal(signal.SIGINT)
    stop = cb.StopOnSignal(cb.RunState(step=0, total_steps=10), stream=io.StringIO())
    stop.on_train_begin()
    os.kill(os.getpid(), signal.SIGINT)
    assert stop.state.stopped_by == "SIGINT"
    with pytest.raises(KeyboardInterrupt, match="second SIGINT"):
        os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


def test_mixed_precision_keeps_float32_outputs(tiny_config):
    cfg = tiny_config(steps=4, ckpt_every=2, mixed_precision=True)
    summary = train(cfg, train_dataset=fixed_batches(), stream=io.StringIO())
    assert keras.mixed_precision.global_policy().name == "float32"  # restored afterwards
    assert summary["steps"] == 4 and summary["mixed_precision"]
    run = Path(cfg.out)
    model = keras.models.load_model(run / "model.keras")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    # The trained network computed in float16 and returned float32.
    assert "mixed_float16" in summary["dtype_policies"]
    assert summary["output_dtype"] == "float32"
    y = model(np.zeros((1, 12, 12, 3), "float32"))
    assert keras.backend.standardize_dtype(y.dtype) == "float32"
    assert np.all(np.isfinite(np.asarray(y)))
    ckpt = CheckpointManager.load(CheckpointManager(run / "checkpoints").list()[0][1])
    assert any("dynamic_scale" in n for n in ckpt.meta["optimizer_variable_names"])


def test_init_model_fine_tunes_from_keras_file(tiny_config, tmp_path):
    from rnan_keras import build_model

    keras.utils.set_random_seed(123)
    src_model = build_model("dn_rgb", n_feats=8, n_resgroups=2)
    src_model.save(tmp_path / "src.keras")
    # No model overrides given: the architecture is read from the .keras file.
    cfg = tiny_config(steps=1, ckpt_every=1, lr=1e-12, out=str(tmp_path / "ft"), model={},
                      init_model=str(tmp_path / "src.keras"))
    summary = train(cfg, train_dataset=fixed_batches(), stream=io.StringIO())
    assert summary["init_from"].startswith("model:")
    saved = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert saved["model"] == {"n_feats": 8, "n_resgroups": 2}
    ft = keras.models.load_model(tmp_path / "ft" / "model.keras")
    for a, b in zip(ft.get_weights(), src_model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_widen_grows_the_start_point_with_the_same_function(tiny_config, tmp_path):
    from rnan_keras import build_model

    src_model = build_model("dn_rgb", n_feats=8, n_resgroups=2, zero_init_tail=False)
    src_model.save(tmp_path / "src.keras")
    # Only the new width is given: the rest of the architecture comes from the start point.
    cfg = tiny_config(steps=1, ckpt_every=1, lr=1e-12, out=str(tmp_path / "wide"),
                      model={"n_feats": 12}, init_model=str(tmp_path / "src.keras"),
                      widen=True)
    summary = train(cfg, train_dataset=fixed_batches(), stream=io.StringIO())
    assert summary["init_from"] == f"model:{tmp_path / 'src.keras'} widened to n_feats 12"
    saved = json.loads((tmp_path / "wide" / "config.json").read_text())
    assert saved["model"] == {"n_feats": 12, "n_resgroups": 2}
    wide = keras.models.load_model(tmp_path / "wide" / "model.keras")
    assert wide.rnan_config.n_feats == 12
    x = np.random.default_rng(0).uniform(0, 255, (1, 16, 16, 3)).astype("float32")
    y_src, y_wide = np.asarray(src_model(x)), np.asarray(wide(x))
    # lr 1e-12: one step moves nothing measurable; float32 round-off only (see test_widen)
    assert np.abs(y_wide - y_src).max() < 1e-4 * np.abs(y_src - x).max()


def test_widen_needs_a_start_point(tiny_config):
    with pytest.raises(ConfigError, match="--widen needs a start point"):
        tiny_config(widen=True).validate()
    with pytest.raises(ConfigError, match="--widen needs --n-feats"):
        tiny_config(widen=True, init_preset="dn_rgb_small", model={}).validate()


def test_official_checkpoint_start_point_resolves_architecture(shared_dir, tmp_path):
    from rnan_keras.training.config import TrainConfig
    from rnan_keras.training.trainer import _load_init_source, resolve_start_point

    npz = shared_dir / "reference" / "official" / "dn_rgb_small.npz"
    if not npz.is_file():
        pytest.skip("official fixture missing")
    cfg = resolve_start_point(TrainConfig(task="dn_rgb", init_official=str(npz)))
    facts = json.loads((npz.parent / "official_facts.json").read_text())
    assert cfg.model["n_feats"] == 16
    assert cfg.model.get("n_resgroups", 10) == 10
    src, source = _load_init_source(cfg)
    weights = src.get_weights()
    assert source.startswith("official:")
    n_params = sum(int(np.prod(w.shape)) for w in weights)
    assert n_params == facts["variants"]["dn_rgb"]["param_count_small"]


def test_xla_failure_falls_back_to_a_plain_graph_with_a_warning(tiny_config, monkeypatch):
    from rnan_keras.training import trainer

    class HostOnly(keras.layers.Layer):
        """Adds zero through a NumPy (host) function: an op XLA cannot compile."""

        def call(self, x):
            host = tf.numpy_function(lambda a: a, [x], tf.float32, stateful=False)
            return x + 0.0 * tf.stop_gradient(tf.reshape(host, tf.shape(x)))

    real = trainer.build_training_model

    def build_with_host_op(config):
        inner = real(config)
        inp = keras.Input((None, None, 3))
        return keras.Model(inp, HostOnly()(inner(inp)))

    monkeypatch.setattr(trainer, "build_training_model", build_with_host_op)
    cfg = tiny_config(steps=2, ckpt_every=2, jit_compile=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        summary = train(cfg, train_dataset=fixed_batches(), stream=io.StringIO())
    assert [w for w in caught if "XLA cannot compile" in str(w.message)]
    assert summary["jit_compile"] is False
    assert summary["steps"] == summary["optimizer_iterations"] == 2


def test_xla_train_step_on_request(tiny_config):
    summary = train(tiny_config(steps=2, ckpt_every=2, jit_compile=True),
                    train_dataset=fixed_batches(), stream=io.StringIO())
    assert summary["jit_compile"] is True
    assert summary["steps"] == summary["optimizer_iterations"] == 2
    assert np.isfinite(summary["final_train_loss"])


def test_saturation_reaches_the_training_dataset(tiny_config):
    from rnan_keras.training.trainer import make_train_dataset

    with pytest.raises(ConfigError, match="saturation augmentation needs a colour task"):
        make_train_dataset(tiny_config(task="dn_gray", saturation=[1.0, 2.0]), seed=0)
    ds = make_train_dataset(tiny_config(task="demosaic", sigma=None, saturation=[2.0, 2.0]),
                            seed=0)
    plain = make_train_dataset(tiny_config(task="demosaic", sigma=None), seed=0)
    (_, sat), (_, ref) = next(iter(ds)), next(iter(plain))
    want = tf.image.adjust_saturation(tf.cast(ref, tf.uint8), 2.0)
    np.testing.assert_array_equal(sat.numpy(), want.numpy())
