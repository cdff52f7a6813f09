"""Atomic, verifiable training checkpoints (model weights + optimizer state + metadata).

A checkpoint is one ``ckpt-<step>.npz`` file in the run's ``checkpoints/`` folder holding
every model weight (``m/<i>``), every optimizer variable (``o/<i>``, including the iteration
counter and, with mixed precision, the loss scale) and a JSON metadata record (``meta``). It
is written to a temporary file in the same folder, fsync'ed and renamed, so a crash mid-write
never leaves a half-written checkpoint under the final name. Reading checks the zip CRCs of
every array and the shapes against the live model, so a truncated or corrupted file is
detected and :meth:`CheckpointManager.restore_latest` falls back to the previous one.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnan_keras.errors import CheckpointError

_NAME = re.compile(r"^ckpt-(\d{8,})\.npz$")


@dataclass
class Checkpoint:
    """What :meth:`CheckpointManager.load` returns: arrays plus metadata (``meta['step']``...)."""

    path: Path
    model_weights: list[np.ndarray]
    optimizer_variables: list[np.ndarray]
    meta: dict[str, Any]

    @property
    def step(self) -> int:
        return int(self.meta["step"])


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _check_fit(path, what: str, variables, arrays, hint: str) -> None:
    """Raise :class:`CheckpointError` unless ``arrays`` match ``variables`` one to one.

    ``what`` names one of them (``"model weight"``); messages add the plural ``s``.
    """
    if len(variables) != len(arrays):
        raise CheckpointError(
            f"{path}: has {len(arrays)} {what}s, the run has {len(variables)} ({hint})"
        )
    for v, a in zip(variables, arrays, strict=True):
        if tuple(v.shape) != a.shape:
            raise CheckpointError(
                f"{path}: {what} {v.path} has shape {a.shape}, expected {tuple(v.shape)}"
            )


class CheckpointManager:
    """Writes, lists, prunes and restores checkpoints in ``folder`` (keeps the last ``keep``)."""

    def __init__(self, folder: str | os.PathLike, keep: int = 2):
        self.folder = Path(folder)
        self.keep = max(1, int(keep))

    def path_for(self, step: int) -> Path:
        return self.folder / f"ckpt-{int(step):08d}.npz"

    def list(self) -> list[tuple[int, Path]]:
        """Checkpoints as ``(step, path)``, newest first."""
        if not self.folder.is_dir():
            return []
        found = []
        for p in self.folder.iterdir():
            m = _NAME.match(p.name)
            if m:
                found.append((int(m.group(1)), p))
        return sorted(found, reverse=True)

    def save(self, model, optimizer, meta: dict[str, Any]) -> Path:
        """Write model + optimizer state with ``meta`` (must contain ``step``); prune old ones."""
        step = int(meta["step"])
        self.folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        for i, w in enumerate(model.get_weights()):
            arrays[f"m/{i}"] = np.asarray(w)
        opt_vars = list(optimizer.variables) if optimizer is not None else []
        for i, v in enumerate(opt_vars):
            arrays[f"o/{i}"] = np.asarray(_to_numpy(v))
        meta = dict(meta)
        meta["n_model_weights"] = len(model.weights)
        meta["n_optimizer_variables"] = len(opt_vars)
        meta["optimizer_variable_names"] = [getattr(v, "path", v.name) for v in opt_vars]
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        final = self.path_for(step)
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=self.folder)
        try:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        _fsync_dir(self.folder)
        self.prune()
        return final

    def prune(self) -> None:
        """Delete all but the newest ``keep`` checkpoints and stale temporary files."""
        for _, p in self.list()[self.keep:]:
            p.unlink(missing_ok=True)
        if self.folder.is_dir():
            for p in self.folder.glob(".ckpt-*.tmp"):
                p.unlink(missing_ok=True)

    @staticmethod
    def load(path: str | os.PathLike) -> Checkpoint:
        """Read and verify one checkpoint file; raise :class:`CheckpointError` if unreadable."""
        path = Path(path)
        try:
            # Our own handle: np.load leaks the one it opens when the zip is corrupt.
            with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}  # reading checks every CRC
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
            raise CheckpointError(f"checkpoint {path} is corrupt or truncated ({exc})") from exc
        if "meta" not in arrays:
            raise CheckpointError(f"checkpoint {path} has no metadata record")
        try:
            meta = json.loads(arrays.pop("meta").tobytes().decode())
            n_m, n_o = int(meta["n_model_weights"]), int(meta["n_optimizer_variables"])
            model_w = [arrays[f"m/{i}"] for i in range(n_m)]
            opt_v = [arrays[f"o/{i}"] for i in range(n_o)]
            int(meta["step"])
        except (KeyError, ValueError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"checkpoint {path} is incomplete ({exc})") from exc
        return Checkpoint(path, model_w, opt_v, meta)

    @staticmethod
    def apply(ckpt: Checkpoint, model, optimizer) -> None:
        """Assign a loaded checkpoint to ``model`` and a *built* ``optimizer``.

        Shapes are checked first, so a mismatching checkpoint raises
        :class:`CheckpointError` and leaves the model untouched."""
        opt_vars = list(optimizer.variables) if optimizer is not None else []
        _check_fit(ckpt.path, "model weight", model.weights, ckpt.model_weights,
                   "different architecture?")
        _check_fit(ckpt.path, "optimizer variable", opt_vars, ckpt.optimizer_variables,
                   "mixed precision or optimizer changed?")
        model.set_weights(ckpt.model_weights)
        for v, a in zip(opt_vars, ckpt.optimizer_variables):
            v.assign(a)

    def restore_latest(self, model, optimizer) -> Checkpoint | None:
        """Restore the newest checkpoint that reads and fits; warn about each one skipped.

        Returns the checkpoint used, or ``None`` when there is none (or none is usable)."""
        candidates = self.list()
        for step, path in candidates:
            try:
                ckpt = self.load(path)
                self.apply(ckpt, model, optimizer)
            except CheckpointError as exc:
                msg = f"skipping checkpoint at step {step}: {exc}; trying the previous one"
                warnings.warn(msg, RuntimeWarning, stacklevel=2)
                print(f"warning: {msg}", file=sys.stderr, flush=True)
                continue
            return ckpt
        if candidates:
            msg = f"no usable checkpoint in {self.folder}; starting from step 0"
            warnings.warn(msg, RuntimeWarning, stacklevel=2)
            print(f"warning: {msg}", file=sys.stderr, flush=True)
        return None


def _to_numpy(v) -> np.ndarray:
    value = v.value if hasattr(v, "value") else v
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


def mean_weights(weight_lists: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Element-wise mean of several models' weight lists (same architecture).

    The mean is taken in float64 and each weight keeps its dtype (for two float32 lists this
    equals ``(a + b) / 2`` in float32 exactly).

    Raises:
        ValueError: no lists, or the lists differ in number or shape of weights.
    """
    if not weight_lists:
        raise ValueError("mean_weights: no weights given")
    shapes = [w.shape for w in weight_lists[0]]
    for i, ws in enumerate(weight_lists[1:], 1):
        if [w.shape for w in ws] != shapes:
            raise ValueError(f"cannot average weights {i} with weights 0: they differ in "
                             "number or shape")
    return [np.mean([ws[i].astype(np.float64) for ws in weight_lists], axis=0)
            .astype(weight_lists[0][i].dtype) for i in range(len(shapes))]


def average_model_weights(paths: list[str | os.PathLike]) -> list[np.ndarray]:
    """Element-wise mean of the model weights of several checkpoints of one run.

    A weight-space average of points late on one training path (as timm's
    ``avg_checkpoints.py``): it smooths the step-to-step noise of the last checkpoints. The
    optimizer state is not averaged; see :func:`mean_weights` for dtypes.

    Raises:
        ValueError: no paths, or the checkpoints' weights differ in number or shape.
        CheckpointError: a checkpoint is unreadable.
    """
    if not paths:
        raise ValueError("average_model_weights: no checkpoints given")
    ckpts = [CheckpointManager.load(p) for p in paths]
    try:
        return mean_weights([c.model_weights for c in ckpts])
    except ValueError as exc:
        names = ", ".join(c.path.name for c in ckpts)
        raise ValueError(f"cannot average the checkpoints {names}: their model weights "
                         "differ in number or shape") from exc
