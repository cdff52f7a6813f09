"""Keras callbacks of a training run. They share one :class:`RunState` (the global step,
which survives resumes, unlike Keras' per-``fit`` batch index) and are added in this order:

``StepCounter`` -> ``StopOnSignal`` -> ``NaNGuard`` -> ``PeriodicValidation`` ->
``ScalarLogger`` -> ``ProgressReporter`` -> ``PeriodicCheckpoint``.

One Keras epoch is one checkpoint interval (``steps_per_epoch = ckpt_every``); checkpoints
and validation are keyed to the global step, so they stay on multiples of their interval
after a resume.
"""

from __future__ import annotations

import csv
import io
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from rnan_keras.training.checkpoint import CheckpointManager
from rnan_keras.training.config import CSV_FIELDS, atomic_write_text
from rnan_keras.training.summaries import write_image, write_scalar
from rnan_keras.training.validation import comparison_strip, validate


@dataclass
class RunState:
    """Mutable state shared by the callbacks; ``step`` counts batches since the run began."""

    step: int
    total_steps: int
    wall_offset: float = 0.0
    started: float = field(default_factory=time.monotonic)
    best_val_psnr: float | None = None
    best_step: int | None = None
    last_val_psnr: float | None = None
    last_val_step: int | None = None
    diverged_at: int | None = None
    stopped_by: str | None = None
    last_logs: dict[str, float] = field(default_factory=dict)
    start_step: int = 0

    @property
    def wall_time(self) -> float:
        return self.wall_offset + time.monotonic() - self.started


def _floats(logs: dict[str, Any] | None) -> dict[str, float]:
    out = {}
    for k, v in (logs or {}).items():
        try:
            out[k] = float(np.asarray(v))
        except (TypeError, ValueError):
            pass
    return out


def current_lr(optimizer) -> float:
    lr = optimizer.learning_rate
    return float(np.asarray(lr.numpy() if hasattr(lr, "numpy") else lr))


def optimizer_iterations(optimizer) -> int:
    return int(np.asarray(optimizer.iterations.numpy()))


class StepCounter(keras.callbacks.Callback):
    """Advances the global step and stops ``fit`` exactly at ``total_steps``."""

    def __init__(self, state: RunState):
        super().__init__()
        self.state = state

    def on_train_batch_end(self, batch, logs=None):
        self.state.step += 1
        self.state.last_logs = _floats(logs)
        if self.state.step >= self.state.total_steps:
            self.model.stop_training = True


class StopOnSignal(keras.callbacks.Callback):
    """SIGTERM or SIGINT (Ctrl-C) ends the run cleanly: the step in flight finishes, ``fit``
    stops, and the trainer writes its usual end of run (checkpoint at that step, model,
    ``summary.json`` with ``"status": "stopped"``), so the run resumes from that step. A
    second signal interrupts at once (``KeyboardInterrupt``; the last periodic checkpoint
    stays valid). Handlers are installed only in the main thread, and restored when
    ``fit`` ends."""

    SIGNALS = ("SIGTERM", "SIGINT")

    def __init__(self, state: RunState, stream=None):
        super().__init__()
        self.state = state
        self.stream = stream or sys.stderr
        self._previous: dict[int, Any] = {}

    def _handle(self, signum, frame):
        name = signal.Signals(signum).name
        if self.state.stopped_by is not None:
            self._restore()
            raise KeyboardInterrupt(f"second {name}: interrupted without a final checkpoint")
        self.state.stopped_by = name
        print(f"\n{name}: stopping after this step (checkpoint, model and summary are "
              "written; send it again to interrupt at once)", file=self.stream, flush=True)

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def on_train_begin(self, logs=None):
        if threading.current_thread() is not threading.main_thread():
            return
        for name in self.SIGNALS:
            sig = getattr(signal, name)
            self._previous[sig] = signal.signal(sig, self._handle)

    def on_train_batch_end(self, batch, logs=None):
        if self.state.stopped_by is not None:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self._restore()


class NaNGuard(keras.callbacks.TerminateOnNaN):
    """Stops training at the first non-finite loss, records the step and says why."""

    def __init__(self, state: RunState):
        super().__init__()
        self.state = state

    def on_batch_end(self, batch, logs=None):
        loss = _floats(logs).get("loss")
        if loss is not None and not math.isfinite(loss):
            self.state.diverged_at = self.state.step
            self.model.stop_training = True
            print(
                f"\nloss became {loss} at step {self.state.step}: training stopped, no "
                "checkpoint written for this interval (try a lower --lr, check the data)",
                file=sys.stderr, flush=True,
            )


class PeriodicValidation(keras.callbacks.Callback):
    """Every ``every`` steps (and at the last step): PSNR on whole validation images, best
    model saved to ``best_path`` (atomically), images/scalars to TensorBoard."""

    def __init__(self, state: RunState, pairs, predict, task: str, every: int,
                 best_path: str | os.PathLike | None, writer=None, chief: bool = True):
        super().__init__()
        self.state, self.pairs, self.predict = state, pairs, predict
        self.task, self.every = task, int(every)
        self.best_path = Path(best_path) if best_path else None
        self.writer, self.chief = writer, chief

    def run(self) -> float:
        psnr, first = validate(self.predict, self.pairs, self.task)
        st = self.state
        st.last_val_psnr, st.last_val_step = psnr, st.step
        if math.isfinite(psnr) and (st.best_val_psnr is None or psnr > st.best_val_psnr):
            st.best_val_psnr, st.best_step = psnr, st.step
            if self.chief and self.best_path is not None:
                save_model_atomic(self.model, self.best_path)
        if self.writer is not None and self.chief:
            with self.writer.as_default():
                write_scalar("val/psnr", psnr, st.step)
                if first is not None:
                    write_image("val/degraded_restored_clean", comparison_strip(*first),
                                st.step)
            self.writer.flush()
        return psnr

    def on_train_batch_end(self, batch, logs=None):
        st = self.state
        if st.diverged_at is not None or not self.pairs:
            return
        if st.step % self.every == 0 or st.step >= st.total_steps:
            self.run()


class ScalarLogger(keras.callbacks.Callback):
    """TensorBoard scalars (loss, PSNR, learning rate) every ``every`` steps."""

    def __init__(self, state: RunState, writer, every: int):
        super().__init__()
        self.state, self.writer, self.every = state, writer, int(every)

    def on_train_batch_end(self, batch, logs=None):
        st = self.state
        if self.writer is None or st.diverged_at is not None or st.step % self.every:
            return
        with self.writer.as_default():
            for k, v in st.last_logs.items():
                write_scalar(f"train/{k}", v, st.step)
            write_scalar("train/lr", current_lr(self.model.optimizer), st.step)


class ProgressReporter(keras.callbacks.Callback):
    """A tqdm bar (steps, loss, PSNR, ETA) on a terminal; plain lines every ``every`` steps
    otherwise (``stream`` defaults to stdout)."""

    def __init__(self, state: RunState, every: int, stream=None, use_tqdm: bool | None = None):
        super().__init__()
        self.state, self.every = state, int(every)
        self.stream = stream or sys.stdout
        isatty = getattr(self.stream, "isatty", lambda: False)()
        self.use_tqdm = isatty if use_tqdm is None else use_tqdm
        self.bar = None
        self._t0 = self._s0 = None

    def _postfix(self) -> dict[str, str]:
        st, logs = self.state, self.state.last_logs
        post = {}
        if "loss" in logs:
            post["loss"] = f"{logs['loss']:.4g}"
        if "psnr" in logs:
            post["psnr"] = f"{logs['psnr']:.2f}"
        if st.last_val_psnr is not None:
            post["val_psnr"] = f"{st.last_val_psnr:.2f}"
        return post

    def on_train_begin(self, logs=None):
        self._t0, self._s0 = time.monotonic(), self.state.step
        if self.use_tqdm:
            from tqdm import tqdm

            self.bar = tqdm(total=self.state.total_steps, initial=self.state.step,
                            unit="step", file=self.stream, dynamic_ncols=True)

    def on_train_batch_end(self, batch, logs=None):
        st = self.state
        if self.bar is not None:
            self.bar.update(1)
            if st.step % max(1, min(self.every, 10)) == 0 or st.step >= st.total_steps:
                self.bar.set_postfix(self._postfix(), refresh=False)
            return
        if st.step % self.every and st.step < st.total_steps:
            return
        now = time.monotonic()
        # Rate over the last interval (the first one includes tracing), ETA from it.
        rate = (st.step - self._s0) / max(1e-9, now - self._t0)
        self._t0, self._s0 = now, st.step
        eta = (st.total_steps - st.step) / rate if rate > 0 else float("nan")
        parts = [f"step {st.step}/{st.total_steps}"]
        parts += [f"{k} {v}" for k, v in self._postfix().items()]
        parts.append(f"lr {current_lr(self.model.optimizer):.3g}")
        parts.append(f"{rate:.3g} steps/s")
        if math.isfinite(eta):
            parts.append(f"eta {format_duration(eta)}")
        print("  ".join(parts), file=self.stream, flush=True)

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class PeriodicCheckpoint(keras.callbacks.Callback):
    """Every ``every`` global steps (and at the last step): an atomic checkpoint of model +
    optimizer and a CSV log row (loss/PSNR: running means since the epoch began). Skipped
    after a NaN loss."""

    def __init__(self, state: RunState, manager: CheckpointManager, csv_path, meta: dict,
                 every: int, chief: bool = True):
        super().__init__()
        self.state, self.manager, self.meta = state, manager, dict(meta)
        self.every = int(every)
        self.csv_path, self.chief = Path(csv_path), chief
        self.saved_steps: list[int] = []

    def checkpoint_meta(self) -> dict[str, Any]:
        st, opt = self.state, self.model.optimizer
        return {
            **self.meta,
            "step": st.step,
            "optimizer_iterations": optimizer_iterations(opt),
            "lr": current_lr(opt),
            "best_val_psnr": st.best_val_psnr,
            "best_step": st.best_step,
            "last_val_psnr": st.last_val_psnr,
            "last_val_step": st.last_val_step,
            "wall_time_s": st.wall_time,
        }

    def save(self) -> None:
        """Checkpoint now (once per step) and append a CSV row; no-op off the chief."""
        st = self.state
        if st.diverged_at is not None or not self.chief:
            return
        if self.saved_steps and self.saved_steps[-1] == st.step:
            return
        self.manager.save(self.model, self.model.optimizer, self.checkpoint_meta())
        self.saved_steps.append(st.step)
        logs = st.last_logs
        val = st.last_val_psnr if st.last_val_step == st.step else None
        append_csv_row(self.csv_path, {
            "step": st.step, "loss": logs.get("loss"), "psnr": logs.get("psnr"),
            "lr": current_lr(self.model.optimizer), "val_psnr": val,
            "wall_time_s": round(st.wall_time, 3),
        })

    def on_train_batch_end(self, batch, logs=None):
        st = self.state
        if st.step % self.every == 0 or st.step >= st.total_steps:
            self.save()


def format_duration(seconds: float) -> str:
    """``H:MM:SS`` with unbounded hours (``27:03:09``), for ETAs of long runs."""
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def append_csv_row(path: Path, row: dict[str, Any]) -> None:
    """Append one row to the CSV log (header written when the file is new)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        if new:
            writer.writeheader()
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in CSV_FIELDS})
        f.flush()


def truncate_csv(path: Path, max_step: int) -> None:
    """Drop log rows after ``max_step`` (written after the checkpoint a resume starts from)."""
    if not path.exists():
        return
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("step") and int(r["step"]) <= max_step]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS)
    writer.writeheader()
    writer.writerows({k: r.get(k, "") for k in CSV_FIELDS} for r in rows)
    atomic_write_text(path, buf.getvalue())


def save_model_atomic(model: keras.Model, path: str | os.PathLike) -> None:
    """``model.save`` to a temporary ``.keras`` name in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.keras")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
