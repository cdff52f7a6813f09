"""Training an RNAN variant with ``model.fit``: resumable, validated, logged.

A run folder (``config.out``) holds::

    config.json              the resolved config (a rerun of the same command resumes)
    checkpoints/ckpt-*.npz   the last ``keep_checkpoints`` checkpoints (model + optimizer)
    logs/train.csv           one row per checkpoint: step, loss, psnr, lr, val_psnr, wall time
    logs/tensorboard/        scalars and degraded|restored|clean validation images
    best.keras               best model by validation PSNR (when a validation folder is given)
    model.keras              the final model
    summary.json             steps, wall time, final/best validation PSNR, parameters, data

Rerunning the same command after a crash or ``kill -9`` restores the newest readable
checkpoint (model weights, optimizer moments, iteration counter, hence learning rate) and
continues from its step. A corrupt newest checkpoint is skipped with a warning.
"""

from __future__ import annotations

import json
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from rnan_keras.errors import (
    CheckpointError,
    ConfigError,
    ImageReadError,
    TrainingDivergedError,
)
from rnan_keras.metrics.keras_metrics import psnr_metric
from rnan_keras.training import callbacks as cb
from rnan_keras.training.checkpoint import CheckpointManager
from rnan_keras.training.config import TrainConfig, atomic_write_text, save_config
from rnan_keras.training.losses import make_loss
from rnan_keras.training.schedules import make_optimizer
from rnan_keras.training.strategy import is_chief, make_strategy
from rnan_keras.training.validation import (
    load_eval_pairs,
    make_predictor,
    pairs_fingerprint,
    validate,
)


def _ensure_float32_output(model: keras.Model) -> keras.Model:
    if all(str(getattr(t, "dtype", "float32")) == "float32" for t in model.outputs):
        return model
    out = keras.layers.Activation("linear", dtype="float32", name="output_float32")(
        model.outputs[0]
    )
    return keras.Model(model.inputs, out, name=model.name)


def _load_init_source(config: TrainConfig) -> tuple[keras.Model | None, str | None]:
    """The fine-tuning start point (preset, .keras file or official checkpoint) as a model,
    and its label for the run's records."""
    if config.init_model or config.init_preset:
        from rnan_keras.models.resolve import load_model_file, resolve_model

        if config.init_model:
            path = Path(config.init_model)
            if not path.is_file():
                raise ConfigError(f"--init-model file not found: {path}")
            return load_model_file(path, cache=False), f"model:{path}"
        return resolve_model(config.init_preset, cache=False), f"preset:{config.init_preset}"
    if config.init_official:
        from rnan_keras.convert.official import convert

        path = Path(config.init_official)
        if not path.is_file():
            raise ConfigError(f"--init-official file not found: {path}")
        return convert(str(path), config.task), f"official:{path}"
    return None, None


def _architecture_overrides(full: dict[str, Any]) -> dict[str, Any]:
    """The build_model overrides of a full RNAN config: fields differing from the defaults."""
    import dataclasses

    from rnan_keras.models.config import RNANConfig

    skip = {"variant", "n_colors", "scale"}
    return {f.name: full[f.name] for f in dataclasses.fields(RNANConfig)
            if f.name in full and f.name not in skip and full[f.name] != f.default}


def resolve_start_point(config: TrainConfig) -> TrainConfig:
    """Fill ``task`` and ``model`` from the fine-tuning start point when they are not given,
    so ``--init-preset NAME`` alone trains the preset's architecture."""
    if not (config.init_preset or config.init_model or config.init_official):
        return config
    if config.model and not config.widen:
        return config
    arch: dict[str, Any] = {}
    if config.init_preset:
        from rnan_keras.presets.registry import get_preset_info

        info = get_preset_info(config.init_preset)
        config.task = config.task or info["variant"]
        arch = _architecture_overrides({"variant": info["variant"], **info["config"]})
    elif config.init_official and Path(config.init_official).is_file():
        from rnan_keras.convert.official import infer_config, load_state_dict

        arch = _architecture_overrides(
            infer_config(load_state_dict(config.init_official), config.task or None))
    elif config.init_model and Path(config.init_model).is_file():
        import zipfile

        try:
            with zipfile.ZipFile(config.init_model) as z:
                saved = json.loads(z.read("config.json"))
        except (OSError, KeyError, ValueError, zipfile.BadZipFile):
            saved = {}
        if saved.get("class_name") == "RNAN":
            arch = _architecture_overrides(saved.get("config", {}))
    # --widen: the start point's architecture, with the given overrides (a larger n_feats)
    config.model = {**arch, **config.model} if config.widen else arch
    return config


#: Errors with which TensorFlow reports that XLA cannot compile a function.
XLA_ERRORS = (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError,
              tf.errors.InternalError, NotImplementedError)


def resolve_jit(config: TrainConfig) -> bool:
    """Whether the train step uses XLA: ``config.jit_compile``, or None = when TensorFlow
    sees a GPU (on the CPU, XLA was slower for RNAN; see ``scripts/bench_speed.py``)."""
    if config.jit_compile is not None:
        return bool(config.jit_compile)
    return bool(tf.config.list_physical_devices("GPU"))


def resolve_degrade(config: TrainConfig) -> str:
    """Where the training batches are degraded: ``config.degrade``, or None = ``"device"``
    (inside the compiled train step) when TensorFlow sees a GPU, else ``"host"`` (tf.data)."""
    if config.degrade is not None:
        return config.degrade
    return "device" if tf.config.list_physical_devices("GPU") else "host"


def _compile(model: keras.Model, optimizer, config: TrainConfig, *, jit: bool) -> None:
    """``model.compile`` as the trainer does: Adam, the loss, PSNR, XLA when ``jit``."""
    model.compile(optimizer=optimizer, loss=make_loss(config.loss), metrics=[psnr_metric],
                  jit_compile=jit)


def _build_from_shapes(model: keras.Model, pair_spec) -> None:
    """Build the compiled loss and metrics from the (degraded, clean) ``pair_spec``, then let
    ``fit`` skip it.

    Keras 3's ``fit`` builds them from one batch that it first mean-reduces across the
    replicas; under ``MultiWorkerMirroredStrategy`` that reduce fails on the distributed
    batch ("Attempt to convert a value (PerReplica...) to a Tensor", keras-team/keras#20585,
    tensorflow/tensorflow#72388), and with device-side degradation the batch is not yet a
    (degraded, clean) pair. Only the shapes are needed. Call it after every compile.
    """
    x_spec, y_spec = pair_spec
    sample = tuple(np.zeros([1, *spec.shape[1:]], spec.dtype.as_numpy_dtype)
                   for spec in (x_spec, y_spec))
    with model.distribute_strategy.scope():
        model._symbolic_build(data_batch=sample)
    model._maybe_symbolic_build = lambda *args, **kwargs: None


def _logs_with_batch_axis(model: keras.Model) -> None:
    """Give every scalar log of ``model``'s train step a batch axis.

    Under ``MultiWorkerMirroredStrategy`` Keras 3 reduces each worker's logs with
    ``reduce("MEAN", axis=0)`` (keras-team/keras#20585), which fails on scalars.
    """
    step = model.train_step

    def train_step(data):
        return {k: tf.reshape(v, [1]) for k, v in step(data).items()}

    model.train_step = train_step


def _degrade_in_train_step(model: keras.Model, degrade_fn) -> None:
    """Degrade each batch inside ``model``'s train step: ``degrade_fn(batch)`` gives the
    (degraded, clean) pair, traced into the same (XLA-compiled, when ``jit``) function as
    the forward and backward pass and run on the model's device, per replica."""
    step = model.train_step

    def train_step(data):
        return step(degrade_fn(data))

    model.train_step = train_step


def build_training_model(config: TrainConfig) -> keras.Model:
    """``build_model(task, **model)`` under the current dtype policy, float32 output."""
    from rnan_keras import build_model

    return _ensure_float32_output(build_model(config.task, **config.model))


def make_train_dataset(config: TrainConfig, seed: int, degrade: str = "host") -> tf.data.Dataset:
    """Infinite dataset of patch batches from ``config.train_dir``: (degraded, clean) pairs,
    or with ``degrade="device"`` clean patches and settings for ``dataset.degrade_fn``."""
    from rnan_keras.data.pipeline import make_dataset

    kwargs: dict[str, Any] = {}
    for key in ("sigma", "quality"):
        value = getattr(config, key)
        if value is not None:
            kwargs[key] = tuple(value) if isinstance(value, list | tuple) else value
    if config.saturation is not None:
        kwargs["saturation"] = tuple(config.saturation)
    ds = make_dataset(config.task, config.train_dir, patch_size=config.patch_size,
                      batch_size=config.batch_size, seed=seed, degrade=degrade, **kwargs)
    return ds


def _check_resume(config: TrainConfig, out: Path, has_ckpt: bool) -> None:
    previous = out / "config.json"
    if not (has_ckpt and previous.is_file()):
        return
    try:
        old = TrainConfig(**json.loads(previous.read_text()))
    except (TypeError, ValueError):
        return
    if old.resume_fingerprint() != config.resume_fingerprint():
        diff = [k for k in ("task", "model", "loss", "sigma", "quality", "mixed_precision")
                if getattr(old, k) != getattr(config, k)]
        raise ConfigError(
            f"{out} holds a run with a different {', '.join(diff)}; resume with the same "
            "settings or choose another --out"
        )


def _rescore_best(state: cb.RunState, best_path: Path, pairs, config: TrainConfig,
                  stream, known: bool = True) -> None:
    """The validation set changed since the checkpoint (or the checkpoint predates the
    fingerprint): the recorded best PSNR belongs to another set, so score ``best.keras`` on
    this one (or forget the best when there is no such file)."""
    if state.best_val_psnr is None:
        return
    if not best_path.is_file():
        state.best_val_psnr, state.best_step = None, None
        return
    best = keras.models.load_model(best_path, safe_mode=True, compile=False)
    psnr = validate(make_predictor(best, config.val_tile), pairs, config.task)[0]
    why = "validation set changed" if known else "checkpoint has no validation fingerprint"
    print(f"{why}: best model (step {state.best_step}) re-scored "
          f"{state.best_val_psnr:.2f} -> {psnr:.2f} dB", file=stream, flush=True)
    state.best_val_psnr = psnr if math.isfinite(psnr) else None


def _write_summary(out: Path, summary: dict[str, Any]) -> None:
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")


def train(config: TrainConfig, *, train_dataset: tf.data.Dataset | None = None,
          stream=None) -> dict[str, Any]:
    """Train (or resume) the run described by ``config``; returns the summary dict.

    ``train_dataset`` replaces the folder pipeline (batches of (degraded, clean) NHWC
    float32 0-255, or a :func:`~rnan_keras.data.pipeline.make_dataset` dataset made with
    ``degrade="device"``, whose ``degrade_fn`` then runs in the train step); the folder
    pipeline degrades where :func:`resolve_degrade` says. ``stream`` receives progress
    output (default stdout). SIGTERM / SIGINT stop the run after the current step with the
    usual end-of-run checkpoint, model and summary (``"status": "stopped"``, see
    :class:`~rnan_keras.training.callbacks.StopOnSignal`). Raises
    :class:`TrainingDivergedError` if the loss becomes NaN/inf (checkpoints stay valid).
    """
    config = resolve_start_point(config).validate()
    out = Path(config.out)
    previous_policy = keras.mixed_precision.global_policy()
    strategy = make_strategy(config.strategy)
    chief = is_chief(strategy)
    out.mkdir(parents=True, exist_ok=True)
    manager = CheckpointManager(out / "checkpoints", keep=config.keep_checkpoints)
    _check_resume(config, out, bool(manager.list()))
    if chief:
        save_config(config, out / "config.json")

    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_global_policy("mixed_float16" if config.mixed_precision
                                            else "float32")
    try:
        return _train(config, out, strategy, chief, manager, train_dataset, stream)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def _train(config, out, strategy, chief, manager, train_dataset, stream) -> dict[str, Any]:
    stream = stream or sys.stdout
    pairs = []
    if config.val_dir:  # first, so that a bad folder fails before the model is built
        pairs = load_eval_pairs(config.task, config.val_dir, sigma=config.sigma,
                                quality=config.quality, max_images=config.val_max_images)
    with strategy.scope():
        model = build_training_model(config)
        optimizer = make_optimizer(config)
        _compile(model, optimizer, config, jit=resolve_jit(config))
        optimizer.build(model.trainable_variables)

    ckpt = manager.restore_latest(model, optimizer)
    init_from = None
    if ckpt is None:
        source, init_from = _load_init_source(config)
        if source is not None:
            try:
                if config.widen:
                    from rnan_keras.models.widen import widen_into

                    widen_into(source, model, seed=config.seed)
                    init_from += f" widened to n_feats {config.model['n_feats']}"
                else:
                    model.set_weights(source.get_weights())
            except (ValueError, TypeError) as exc:
                hint = ("--widen needs the start point's architecture with more --n-feats"
                        if config.widen else "pass the same --n-feats/--n-resgroups, or "
                        "--widen to grow a narrower start point")
                raise CheckpointError(
                    f"start point {init_from} does not fit {config.task} with model "
                    f"overrides {config.model} ({exc}); {hint}"
                ) from exc
    else:
        init_from = ckpt.meta.get("init_from")
        print(f"resuming from {ckpt.path.name}: step {ckpt.step}, optimizer iterations "
              f"{cb.optimizer_iterations(optimizer)}, lr {cb.current_lr(optimizer):.3g}",
              file=stream, flush=True)
    start_step = ckpt.step if ckpt else 0
    meta = ckpt.meta if ckpt else {}
    state = cb.RunState(step=start_step, total_steps=config.steps, start_step=start_step,
                        wall_offset=float(meta.get("wall_time_s") or 0.0),
                        best_val_psnr=meta.get("best_val_psnr"), best_step=meta.get("best_step"),
                        last_val_psnr=meta.get("last_val_psnr"),
                        last_val_step=meta.get("last_val_step"))
    val_fp = pairs_fingerprint(pairs) if pairs else None
    if ckpt is not None and val_fp and meta.get("val_fingerprint") != val_fp:
        _rescore_best(state, out / "best.keras", pairs, config, stream,
                      known="val_fingerprint" in meta)
    csv_path = out / "logs" / "train.csv"
    if chief:
        if ckpt is not None:
            cb.truncate_csv(csv_path, start_step)
        elif csv_path.exists():
            csv_path.unlink()

    writer = None
    if config.tensorboard and chief:
        writer = tf.summary.create_file_writer(str(out / "logs" / "tensorboard"))
    predictor = make_predictor(model, config.val_tile)
    validation = cb.PeriodicValidation(state, pairs, predictor, config.task,
                                       config.effective_val_every, out / "best.keras",
                                       writer, chief)
    nan_guard = cb.NaNGuard(state)
    checkpointer = cb.PeriodicCheckpoint(
        state, manager, csv_path,
        {"init_from": init_from, "task": config.task, "val_fingerprint": val_fp},
        config.ckpt_every, chief)
    callbacks = [cb.StepCounter(state), cb.StopOnSignal(state), nan_guard, validation,
                 cb.ScalarLogger(state, writer, config.log_every),
                 cb.ProgressReporter(state, config.log_every, stream=stream), checkpointer]

    remaining = config.steps - start_step
    degrade_fn = None
    if remaining > 0:
        ds = train_dataset
        if ds is None:
            ds = make_train_dataset(config, seed=config.seed + start_step,
                                    degrade=resolve_degrade(config))
        stats = getattr(ds, "stats", None)
        degrade_fn = getattr(ds, "degrade_fn", None)
        if degrade_fn is not None:  # clean patches + settings: degrade in the train step
            pair_spec = ds.map(degrade_fn).element_spec
            _degrade_in_train_step(model, degrade_fn)
        else:
            pair_spec = ds.element_spec
        source = "the training dataset" if train_dataset is not None else config.train_dir
        if ds.cardinality() != tf.data.INFINITE_CARDINALITY:
            ds = ds.repeat()
        if config.strategy == "multi-worker":  # patches are synthesised: shard by element
            options = tf.data.Options()
            options.experimental_distribute.auto_shard_policy = \
                tf.data.experimental.AutoShardPolicy.DATA
            ds = ds.with_options(options)
            _logs_with_batch_axis(model)

        def fit() -> None:
            if config.strategy == "multi-worker" or degrade_fn is not None:
                _build_from_shapes(model, pair_spec)  # after each compile (XLA fallback)
            model.fit(ds, epochs=math.ceil(remaining / config.ckpt_every),
                      steps_per_epoch=config.ckpt_every, verbose=0, callbacks=callbacks,
                      shuffle=False)

        try:
            fit()
        except XLA_ERRORS as exc:
            if not (model.jit_compile and state.step == start_step):
                raise
            # XLA could not compile the train step (it fails before the first update):
            # train with a plain TF graph instead.
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            warnings.warn(f"XLA cannot compile this model's train step ({first}); "
                          "training without XLA (pass --no-jit to skip the attempt)",
                          RuntimeWarning, stacklevel=2)
            with strategy.scope():
                _compile(model, optimizer, config, jit=False)
            fit()
        if state.diverged_at is None and state.stopped_by is None and state.step < config.steps:
            # The data ran out: every image failed to decode (the header checks passed).
            why = f": {stats.skipped[0][1]}" if stats is not None and stats.skipped else ""
            raise ImageReadError(
                f"{source}: the training data ran out after {state.step} of "
                f"{config.steps} steps; no image could be decoded{why}"
            )

    n_params = int(sum(np.prod(w.shape) for w in model.weights))
    summary: dict[str, Any] = {
        "status": "complete" if state.stopped_by is None else "stopped",
        "stopped_by": state.stopped_by,
        "task": config.task,
        "steps": state.step,
        "optimizer_iterations": cb.optimizer_iterations(optimizer),
        "final_lr": cb.current_lr(optimizer),
        "wall_time_s": round(state.wall_time, 3),
        "final_val_psnr": None,
        "best_val_psnr": state.best_val_psnr,
        "best_step": state.best_step,
        "final_train_loss": state.last_logs.get("loss"),
        "final_train_psnr": state.last_logs.get("psnr"),
        "parameters": n_params,
        "train_dir": os.path.abspath(config.train_dir),
        "val_dir": os.path.abspath(config.val_dir) if config.val_dir else None,
        "init_from": init_from,
        "resumed_from_step": start_step if ckpt else None,
        "strategy": config.strategy,
        "replicas": strategy.num_replicas_in_sync,
        "mixed_precision": config.mixed_precision,
        "jit_compile": bool(model.jit_compile),
        "degrade": None if remaining <= 0 else "device" if degrade_fn is not None else "host",
        "dtype_policies": sorted({layer.dtype_policy.name for layer in model._flatten_layers()
                                  if layer.weights}),
        "output_dtype": str(model.outputs[0].dtype),
        "model_path": str(out / "model.keras"),
    }
    if state.diverged_at is not None:
        last = manager.list()
        summary.update(status="diverged", diverged_at_step=state.diverged_at, steps=None)
        if chief:
            _write_summary(out, summary)
        where = f"; last good checkpoint: {last[0][1]}" if last else ""
        raise TrainingDivergedError(
            f"loss became NaN/inf at step {state.diverged_at}; training stopped{where}. "
            "Lower --lr or check the training images."
        )
    if pairs and state.last_val_step != state.step:
        validation.set_model(model)
        validation.run()
    summary["final_val_psnr"] = state.last_val_psnr if pairs else None
    summary["best_val_psnr"], summary["best_step"] = state.best_val_psnr, state.best_step
    if chief:
        if remaining > 0 or not manager.list():
            checkpointer.set_model(model)
            checkpointer.save()
        cb.save_model_atomic(model, out / "model.keras")
        _write_summary(out, summary)
        if writer is not None:
            writer.close()
    ended = "stopped" if state.stopped_by else "done"
    print(f"{ended}: {state.step} steps in {summary['wall_time_s']:.1f}s; model {out/'model.keras'}"
          + (f"; best val PSNR {state.best_val_psnr:.2f} dB at step {state.best_step}"
             if state.best_val_psnr is not None else ""), file=stream, flush=True)
    return summary
