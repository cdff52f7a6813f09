"""Unit tests of the training callbacks that need no model training."""

from __future__ import annotations

import csv
import io
import math
from types import SimpleNamespace

import pytest

pytest.importorskip("keras")

from rnan_keras.training import callbacks as cb


class _FakeModel:
    def __init__(self):
        self.stop_training = False
        self.optimizer = SimpleNamespace(learning_rate=1e-4)


def _drive(callback, state, n, loss=lambda i: 10.0 - i):
    callback.set_model(_FakeModel())
    counter = cb.StepCounter(state)
    counter.set_model(callback.model)
    callback.on_train_begin()
    for i in range(n):
        logs = {"loss": loss(i), "psnr": 20.0 + i}
        counter.on_train_batch_end(i, logs)
        callback.on_train_batch_end(i, logs)
        if callback.model.stop_training:
            break
    callback.on_train_end()
    return callback.model


def test_plain_progress_lines():
    state = cb.RunState(step=0, total_steps=6)
    out = io.StringIO()
    _drive(cb.ProgressReporter(state, every=2, stream=out), state, 6)
    lines = out.getvalue().splitlines()
    assert [ln.split("  ")[0] for ln in lines] == ["step 2/6", "step 4/6", "step 6/6"]
    assert "loss 5" in lines[-1] and "psnr 25.00" in lines[-1] and "steps/s" in lines[-1]


def test_format_duration_beyond_a_day():
    assert cb.format_duration(0) == "0:00:00"
    assert cb.format_duration(48 * 3600 + 4 * 60 + 16.4) == "48:04:16"


def test_tqdm_progress_bar():
    state = cb.RunState(step=3, total_steps=8)  # resumed at step 3
    out = io.StringIO()
    _drive(cb.ProgressReporter(state, every=1, stream=out, use_tqdm=True), state, 5)
    text = out.getvalue()
    assert "8/8" in text and "loss=" in text and "psnr=" in text


def test_step_counter_stops_at_total_and_nan_guard_records_step(capsys):
    state = cb.RunState(step=0, total_steps=100)
    model = _drive(cb.NaNGuard(state), state, 10,
                   loss=lambda i: math.nan if i == 3 else 1.0)
    assert model.stop_training and state.diverged_at == 4 and state.step == 4
    assert "loss became nan at step 4" in capsys.readouterr().err
    state = cb.RunState(step=0, total_steps=3)
    model = _drive(cb.ProgressReporter(state, every=100, stream=io.StringIO()), state, 10)
    assert model.stop_training and state.step == 3


def test_truncate_csv_drops_rows_after_resume_step(tmp_path):
    path = tmp_path / "train.csv"
    for step in (5, 10, 15):
        cb.append_csv_row(path, {"step": step, "loss": 1.0 / step})
    cb.truncate_csv(path, 10)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [5, 10]
    assert float(rows[1]["loss"]) == pytest.approx(0.1)
