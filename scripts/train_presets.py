#!/usr/bin/env python
"""Train, or continue training, every shipped preset within one wall-time budget.

Each preset keeps its resumable training state (model weights + Adam moments, the
learning-curve CSV, the best-validation model) in ``--state-dir`` (default
``scripts/preset_training/NAME/``, committed to the repo), so a later run resumes where
the last one stopped instead of starting over. The budget is shared out over the chosen
presets in rounds; each preset trains until its share is spent (step time is measured from
its own log), then the next one runs.

What a preset is (variant, architecture, degradation range, patch size) is read from the
preset registry ``rnan_keras/presets/presets.json``; this script adds only the training
recipe (``RECIPE`` below) and the device settings:

- GPU visible: mixed precision (fresh states only: a resumed run keeps its dtype), XLA,
  batch ``--gpu-batch`` (default 64);
- CPU: float32, no XLA (slower on CPU, see ``scripts/bench_speed.py``), batch 16.

A resumed state keeps its own loss and learning-rate schedule; ``--lr`` / ``--lr-decay-steps``
replace the schedule (an absolute staircase, ``lr * 0.5 ** floor(step / decay)``). Each turn
appends its session (date, device, steps, wall time, width, schedule, ``--note``) to the
state's ``sessions.json``, which ``--ship`` copies into the preset's record.

Data: ``--train-root`` holds ``CBSD432`` (colour tasks) and ``Train400`` (gray). The last
``--val-images`` files of each (sorted by name) are held out: 96x96 centre crops of them are
the validation set that picks each preset's best step; training never sees them, and no
benchmark test image is used at all.

``--ship`` then writes each trained preset's best weights and its record (data, steps,
wall time, device, validation curve) into the registry via ``scripts/make_presets.py``.

    nohup taskset -c 1 python scripts/train_presets.py --budget-minutes 150 --threads 1 \\
        --train-root ../shared/data/train > runs/train_presets.log 2>&1 &
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REGISTRY = ROOT / "rnan_keras" / "presets" / "presets.json"
DEFAULT_STATE = ROOT / "scripts" / "preset_training"
VAL_CROP = 96

# The training recipe, on top of each preset's registry entry. ``start`` is the shipped
# preset to fine-tune from when no state exists yet (None: train from the zero-tail init).
RECIPE = {
    "lr": 2e-4,
    "lr_decay_steps": 10_000,
    "loss": "l2",
    "cpu_batch": 16,
    "ckpt_every": 200,
    "keep_checkpoints": 1,  # the state committed to the repo holds the latest only
}
PRESETS = {
    # name: (training folder, model overrides beyond the registry config, start preset).
    # An n_feats override above the registry's widens the start preset (``rnan train
    # --widen``: same function, more channels) when the state starts afresh.
    "dn_rgb_small": ("CBSD432", {}, "dn_rgb_small"),
    "dn_gray_small": ("Train400", {}, "dn_gray_small"),
    # bilinear skip: starts at bilinear quality (30 dB on McMaster) instead of the mosaic
    "demosaic_small": ("CBSD432", {"demosaic_bilinear_skip": True}, None),
    "car_small": ("CBSD432", {}, "car_small"),
    "sr_x2_small": ("CBSD432", {}, "sr_x2_small"),
    "sr_x3_small": ("CBSD432", {}, "sr_x3_small"),
    "sr_x4_small": ("CBSD432", {}, "sr_x4_small"),
}
# Training-data options beyond the registry's degradation, e.g.
# ``{"demosaic_small": {"saturation": [1.0, 2.0]}}``: patches saturated by a factor drawn from
# the range (colourful, less channel-correlated patches than CBSD432's muted photos). The
# held-out set of such a preset adds copies of its crops saturated by the range's midpoint, so
# the best step is picked on both. None is on: for demosaic_small (16 features) that setting
# lost on both held-out halves after 7,400 steps from step 34,600 (natural crops 39.47 ->
# 39.03 dB, saturated copies 37.74 -> 37.67; results/demosaic_saturation_experiment.csv).
DATA_OPTIONS: dict[str, dict] = {}
SATURATED = "_sat.png"  # name suffix of a held-out crop's saturated copy


def saturation_range(name: str) -> list[float] | None:
    """``name``'s saturation augmentation range from ``DATA_OPTIONS`` (None: off)."""
    return DATA_OPTIONS.get(name, {}).get("saturation")


def split_folder(src: Path, work: Path, n_val: int) -> tuple[Path, Path]:
    """Symlink all but the last ``n_val`` images of ``src`` into ``work/train`` and write
    96x96 centre crops of the last ``n_val`` into ``work/val``; returns both folders."""
    from PIL import Image

    from rnan_keras.data.image_io import list_images

    files = sorted(list_images(src))
    if len(files) <= n_val:
        raise SystemExit(f"{src}: {len(files)} images, need more than --val-images {n_val}")
    train, val = work / src.name / "train", work / src.name / "val"
    for folder in (train, val):
        folder.mkdir(parents=True, exist_ok=True)
    for f in files[:-n_val]:
        link = train / f.name
        if not link.exists():
            link.symlink_to(f.resolve())
    for f in files[-n_val:]:
        out = val / (f.stem + ".png")
        if not out.exists():
            with Image.open(f) as im:
                w, h = im.size
                left, top = (w - VAL_CROP) // 2, (h - VAL_CROP) // 2
                im.crop((left, top, left + VAL_CROP, top + VAL_CROP)).save(out)
    return train, val


def saturated_val(val: Path, factor: float) -> Path:
    """``val``'s crops plus a copy of each with its saturation scaled by ``factor``
    (``tf.image.adjust_saturation``), in a sibling folder ``val_sat<factor>``."""
    import numpy as np
    import tensorflow as tf
    from PIL import Image

    out = val.parent / f"{val.name}_sat{factor:g}"
    out.mkdir(parents=True, exist_ok=True)
    for f in sorted(val.glob("*.png")):
        with Image.open(f) as im:
            rgb = np.asarray(im.convert("RGB"))
        plain, saturated = out / f.name, out / (f.stem + SATURATED)
        if not plain.exists():
            Image.fromarray(rgb).save(plain)
        if not saturated.exists():
            sat = tf.image.adjust_saturation(tf.constant(rgb), factor).numpy()
            Image.fromarray(sat).save(saturated)
    return out


def val_folder(name: str, val: Path) -> Path:
    """The held-out folder ``name`` is validated (and its shipping decided) on."""
    sat = saturation_range(name)
    return saturated_val(val, (sat[0] + sat[1]) / 2) if sat else val


def seconds_per_step(run: Path) -> float | None:
    """Step time of the last logged interval of ``run`` (None before two log rows)."""
    from make_presets import read_curve

    if not (run / "logs" / "train.csv").is_file():
        return None
    rows = [r for r in read_curve(run) if r.get("wall_time_s") is not None]
    if len(rows) < 2:
        return None
    a, b = rows[-2], rows[-1]
    steps = b["step"] - a["step"]
    return (b["wall_time_s"] - a["wall_time_s"]) / steps if steps > 0 else None


def current_step(run: Path) -> int:
    from rnan_keras.training.checkpoint import CheckpointManager

    ckpts = CheckpointManager(run / "checkpoints").list()
    return int(ckpts[0][0]) if ckpts else 0


def make_config(name: str, entry: dict, run: Path, train: Path, val: Path, gpu: bool,
                steps: int, gpu_batch: int, *, lr: float | None = None,
                lr_decay_steps: int | None = None):
    """The run's TrainConfig. A resumed run keeps its architecture, dtype, loss and
    learning-rate schedule (the registry or ``RECIPE`` may have changed since); ``lr`` /
    ``lr_decay_steps`` given here replace the schedule (the staircase is absolute:
    ``lr * 0.5 ** floor(step / lr_decay_steps)``, so a resumed run continues at that value)."""
    from rnan_keras.training.config import load_config_file

    _, overrides, start = PRESETS[name]
    resumed = (run / "config.json").is_file() and current_step(run) > 0
    # a resumed run keeps its own architecture and dtype (the registry may have gained keys)
    stored = load_config_file(run / "config.json") if resumed else None
    model = stored["model"] if stored else {**entry["config"], **overrides}
    # a wider config than the start preset's: grow the preset (same function) and train on
    widen = not resumed and start is not None and model["n_feats"] > entry["config"]["n_feats"]
    schedule = {"lr": RECIPE["lr"], "lr_decay_steps": RECIPE["lr_decay_steps"],
                "loss": RECIPE["loss"]}
    if stored:
        schedule = {k: stored[k] for k in schedule}
    if lr is not None:
        schedule["lr"] = lr
    if lr_decay_steps is not None:
        schedule["lr_decay_steps"] = lr_decay_steps
    return recipe_config(
        entry, model, train, val, run, steps=steps,
        batch=gpu_batch if gpu else RECIPE["cpu_batch"], every=RECIPE["ckpt_every"],
        mixed=bool(stored["mixed_precision"] if stored else gpu), jit=gpu,
        init_preset=None if resumed else start, widen=widen,
        saturation=saturation_range(name), **schedule)


def recipe_config(entry: dict, model: dict, train: Path, val: Path, out: Path, *, steps: int,
                  batch: int, every: int, mixed: bool = False, jit: bool = False,
                  init_preset: str | None = None, widen: bool = False,
                  saturation: list[float] | None = None, lr: float = RECIPE["lr"],
                  lr_decay_steps: int = RECIPE["lr_decay_steps"], loss: str = RECIPE["loss"]):
    """The TrainConfig of ``RECIPE`` (or the schedule given) for a registry entry and a
    model config."""
    from rnan_keras.training.config import TrainConfig

    deg = entry["degradation"]
    return TrainConfig(
        task=entry["variant"], train_dir=str(train), val_dir=str(val), out=str(out),
        model=model, steps=steps, patch_size=entry["training"]["patch_size"],
        batch_size=batch, lr=lr, lr_decay_steps=lr_decay_steps,
        loss=loss, sigma=deg.get("sigma"), quality=deg.get("quality"), seed=0,
        ckpt_every=every, keep_checkpoints=RECIPE["keep_checkpoints"], log_every=every,
        tensorboard=False,
        mixed_precision=mixed, jit_compile=jit, init_preset=init_preset, widen=widen,
        saturation=saturation,
    )


def train_for(name: str, entry: dict, run: Path, data: tuple[Path, Path], seconds: float,
              gpu: bool, gpu_batch: int, device: str = "", *, lr: float | None = None,
              lr_decay_steps: int | None = None, note: str | None = None) -> dict | None:
    """Train ``name`` for about ``seconds`` of wall time; returns the trainer's summary.

    ``lr`` / ``lr_decay_steps``: see :func:`make_config`; ``note`` goes into the session's
    record in ``sessions.json``."""
    from rnan_keras.training.trainer import train

    every = RECIPE["ckpt_every"]
    step = current_step(run)
    per_step = seconds_per_step(run)
    # unknown speed: one checkpoint interval first, then the rest with the measured speed
    n = every if per_step is None else max(every, math.floor(seconds / per_step / every) * every)
    speed = f"{per_step:.2f} s/step" if per_step else "speed unknown"
    print(f"[{name}] step {step} -> {step + n} (budget {seconds / 60:.1f} min, {speed})",
          flush=True)

    def config(steps: int):
        return make_config(name, entry, run, *data, gpu, steps, gpu_batch, lr=lr,
                           lr_decay_steps=lr_decay_steps)

    t0 = time.monotonic()
    cfg = config(step + n)
    summary = train(cfg)
    spent = time.monotonic() - t0
    if per_step is None and seconds - spent > 60 and summary["status"] != "stopped":
        per_step = seconds_per_step(run) or spent / n
        n = math.floor((seconds - spent) / per_step / every) * every
        if n > 0:
            summary = train(config(step + every + n))
    log_session(run, device, step, summary["steps"], time.monotonic() - t0,
                n_feats=cfg.model.get("n_feats"), schedule=lr_text(cfg, step, summary["steps"]),
                note=note)
    return summary


def lr_text(cfg, start: int, end: int) -> str:
    """The learning rate of a session, e.g. ``"5e-05 halved every 5,000 steps: 3.125e-06 from
    step 20,661"`` (and where it changes within the session), by the trainer's schedule."""
    from rnan_keras.training.schedules import paper_schedule

    decay = int(cfg.effective_decay_steps)
    schedule = paper_schedule(cfg.lr, decay)

    def at(step: int) -> float:
        return float(schedule(step))

    text = f"{cfg.lr:g} halved every {decay:,} steps: {at(start):.4g} from step {start:,}"
    for k in range(start // decay + 1, (max(end, 1) - 1) // decay + 1):
        text += f", {at(k * decay):.4g} from {k * decay:,}"
    return text


def log_session(run: Path, device: str, start: int, end: int, seconds: float, *,
                n_feats: int | None = None, schedule: str | None = None,
                note: str | None = None) -> None:
    """Append one training session (date, device, steps, wall time, and when given the
    model width, learning-rate schedule and a note) to ``sessions.json``."""
    from rnan_keras.training.config import atomic_write_text

    path = run / "sessions.json"
    sessions = json.loads(path.read_text()) if path.is_file() else []
    entry = {"date": time.strftime("%Y-%m-%d"), "device": device, "from_step": start,
             "to_step": end, "wall_time_s": round(seconds, 1)}
    extra = {"n_feats": n_feats, "lr": schedule, "note": note}
    entry.update({k: v for k, v in extra.items() if v is not None})
    sessions.append(entry)
    atomic_write_text(path, json.dumps(sessions, indent=1, ensure_ascii=False) + "\n")


def held_out_psnr(model, run: Path, val_dir: Path) -> float:
    """PSNR of ``model`` on the held-out crops, with the run's validation protocol."""
    from rnan_keras.training.validation import load_eval_pairs, make_predictor, validate

    cfg = json.loads((run / "config.json").read_text())
    pairs = load_eval_pairs(cfg["task"], str(val_dir), sigma=cfg["sigma"],
                            quality=cfg["quality"])
    return float(validate(make_predictor(model, 0), pairs, cfg["task"])[0])


def earlier_training(previous: dict, record: dict) -> dict | None:
    """The training before this record's state: kept when the state is the one the shipped
    preset came from (same folder, same start); the shipped preset's whole history when a
    new state started from it (another folder, or the same folder holding a new run, e.g. the
    preset widened by ``rnan train --widen``)."""
    if (previous.get("state") == record["state"]
            and previous.get("init_from") == record.get("init_from")):
        return previous.get("earlier_training")
    if not record.get("init_from"):
        return None
    before = previous.get("earlier_training") or {}
    return {k: (previous.get(k) or 0) + (before.get(k) or 0) for k in ("steps", "wall_time_s")}


def shipping_candidate(run: Path) -> tuple[object, int | None, str]:
    """The weights ``ship`` offers for ``run``: ``(model, step, source)``.

    ``best.keras`` (best held-out PSNR of the run) when this machine has it; it is not
    committed, so on a fresh checkout the latest committed checkpoint stands in for it.
    ``step`` is None for ``best.keras`` (its record takes the curve's best step)."""
    import keras

    from rnan_keras.training.checkpoint import CheckpointManager

    if (run / "best.keras").is_file():
        return keras.models.load_model(run / "best.keras", compile=False), None, "best.keras"
    ckpts = CheckpointManager(run / "checkpoints").list()
    if not ckpts or not (run / "config.json").is_file():
        return None, None, ""
    step, path = ckpts[0]
    model = run_model(run, CheckpointManager.load(path).model_weights)
    return model, int(step), f"checkpoint {path.name} (best.keras not on this machine)"


def run_model(run: Path, weights: list) -> Any:
    """The model of ``run``'s ``config.json`` holding ``weights``."""
    from rnan_keras import build_model

    cfg = json.loads((run / "config.json").read_text())
    model = build_model(cfg["task"], **cfg["model"])
    model.set_weights(weights)
    return model


def average_weights(a, b) -> None:
    """Set ``a``'s weights to the element-wise mean of ``a``'s and ``b``'s (same
    architecture): a weight-space ensemble, which only makes sense for two points of one
    fine-tuning path (e.g. a fine-tune and its start, WiSE-FT, Wortsman et al. 2022)."""
    from rnan_keras.training.checkpoint import mean_weights

    try:
        a.set_weights(mean_weights([a.get_weights(), b.get_weights()]))
    except ValueError:
        raise SystemExit("cannot average weights of different architectures") from None


def averaged_checkpoints(run: Path, steps: list[int]) -> tuple[Any, int, str]:
    """(model, last step, source) of the mean of the run's checkpoints at ``steps``."""
    from rnan_keras.training.checkpoint import CheckpointManager, average_model_weights

    steps = sorted(set(steps))
    have = dict(CheckpointManager(run / "checkpoints").list())
    missing = [s for s in steps if s not in have]
    if missing:
        raise SystemExit(f"--average-checkpoints: {run} has no checkpoint at step(s) "
                         f"{', '.join(map(str, missing))} (it has {sorted(have) or 'none'})")
    model = run_model(run, average_model_weights([have[s] for s in steps]))
    listed = ", ".join(f"{s:,}" for s in steps)
    if len(steps) == 1:
        return model, steps[0], f"the checkpoint at step {listed}"
    return model, steps[-1], f"mean of the checkpoints at steps {listed}"


def ship(names: list[str], state: Path, device: str, val_dirs: dict[str, Path], *,
         average_with_shipped: bool = False,
         average_checkpoints: list[int] | None = None) -> None:
    """Write each preset's best weights and training record into the registry, when they
    beat the shipped weights on the same held-out crops. ``average_with_shipped``: offer
    the mean of the run's best weights and the shipped ones instead (for a run fine-tuned
    from the shipped preset). ``average_checkpoints``: offer the mean of the run's
    checkpoints at these steps instead of its best weights."""
    from make_presets import make_preset

    import rnan_keras

    registry = json.loads(REGISTRY.read_text())
    weights_dir = REGISTRY.parent / "weights"
    for name in names:
        run = state / name
        best, step, source = (averaged_checkpoints(run, average_checkpoints)
                               if average_checkpoints else shipping_candidate(run))
        if best is None:
            print(f"[{name}] nothing to ship (no best.keras and no checkpoint in {run})")
            continue
        shipped = rnan_keras.load_preset(name) if name in registry else None
        if average_with_shipped:
            if shipped is None:
                raise SystemExit(f"--average-with-shipped: {name} has no shipped weights")
            average_weights(best, shipped)
            source = (f"mean of {source} and the weights shipped before it "
                      f"(sha256 {registry[name]['sha256'][:12]})")
        new = held_out_psnr(best, run, val_dirs[name])
        old = held_out_psnr(shipped, run, val_dirs[name]) if shipped is not None \
            else float("-inf")
        if new <= old:
            print(f"[{name}] kept the shipped weights: {old:.3f} dB on the held-out crops, "
                  f"the new best {new:.3f} dB")
            continue
        previous = registry.get(name, {}).get("training", {})
        entry = make_preset(name, run, registry, weights_dir, best, step)
        t = entry["training"]
        t["weights_from"] = source
        sessions = (json.loads((run / "sessions.json").read_text())
                    if (run / "sessions.json").is_file() else [])
        t["machine"] = "; ".join(dict.fromkeys(x["device"] for x in sessions)) or device
        t["sessions"] = sessions
        t["init_from"] = json.loads((run / "summary.json").read_text()).get("init_from") \
            if (run / "summary.json").is_file() else None
        t["state"] = str(run.relative_to(ROOT))
        cfg = json.loads((run / "config.json").read_text())
        n_train = len(list(Path(cfg["train_dir"]).iterdir()))
        n_val = sum(not f.name.endswith(SATURATED) for f in val_dirs[name].iterdir())
        folder = PRESETS[name][0]
        sat = saturation_range(name)
        t["train_data"] = f"data/train/{folder}: the first {n_train} images by name" + (
            f", patches saturated by a factor drawn from {sat[0]:g}-{sat[1]:g}" if sat else "")
        t["val_data"] = (f"data/train/{folder}: {VAL_CROP}x{VAL_CROP} centre crops of the "
                         f"last {n_val} images by name (held out)"
                         + (f", and each crop saturated x{(sat[0] + sat[1]) / 2:g}"
                            if sat else ""))
        t["held_out_psnr_vs_previous"] = [round(new, 3), None if old == float("-inf")
                                          else round(old, 3)]
        if average_with_shipped or average_checkpoints:  # the averaged weights' own score
            t["best_val_psnr"] = round(new, 3)
        t["earlier_training"] = earlier_training(previous, t)
        print(f"[{name}] shipped step {t['best_step']}: {new:.3f} dB on the held-out crops "
              f"(shipped before: {old:.3f} dB)")
    tmp = REGISTRY.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(dict(sorted(registry.items())), indent=1) + "\n")
    os.replace(tmp, REGISTRY)


def report(registry: dict) -> str:
    """Markdown table of each preset's training record (README "Shipped presets")."""
    lines = [("| preset | restores | params | steps (this record + earlier) | wall time "
              "| best val PSNR (step) |"), "|---|---|---:|---:|---:|---:|"]
    for name, entry in registry.items():
        t = entry["training"]
        earlier = t.get("earlier_training") or {}
        steps = f"{t['steps']:,}" + (f" + {earlier['steps']:,}" if earlier.get("steps") else "")
        wall = (t.get("wall_time_s") or 0) + (earlier.get("wall_time_s") or 0)
        lines.append(f"| `{name}` | {entry['description']} | {entry['param_count']:,} | {steps} "
                     f"| {wall / 60:.0f} min | {t['best_val_psnr'] or float('nan'):.2f} dB "
                     f"({t['best_step']}) |")
    return "\n".join(lines) + "\n"


def train_rounds(names: list[str], rounds: int, budget_s: float,
                 turn: Callable[[str, float], dict]) -> None:
    """Give each preset ``rounds`` turns of ``turn(name, seconds)`` within ``budget_s``.

    Each turn gets an equal share of the time still left. It ends when less than a minute
    is left, or at once after a turn whose summary says ``"stopped"`` (SIGTERM / Ctrl-C).
    """
    deadline = time.monotonic() + budget_s
    for r in range(rounds):
        for i, name in enumerate(names):
            left = deadline - time.monotonic()
            if left < 60:
                return
            summary = turn(name, left / ((rounds - r) * len(names) - i))
            if summary["status"] == "stopped":
                print(f"[{name}] stopped by {summary['stopped_by']} at step {summary['steps']}",
                      flush=True)
                return


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget-minutes", type=float,
                   help="wall time for all training of this run, shared over the presets")
    p.add_argument("--presets", default=",".join(PRESETS),
                   help="comma-separated preset names (default: all)")
    p.add_argument("--rounds", type=int, default=1,
                   help="split each preset's share into this many turns (default 1)")
    p.add_argument("--train-root", type=Path, default=ROOT.parent / "shared/data/train",
                   help="folder holding CBSD432/ and Train400/")
    p.add_argument("--state-dir", type=Path, default=DEFAULT_STATE,
                   help="resumable training state, one folder per preset")
    p.add_argument("--work-dir", type=Path, default=ROOT / "runs" / "preset_data",
                   help="where the train/validation split is written (not committed)")
    p.add_argument("--val-images", type=int, default=8, help="held-out images per folder")
    p.add_argument("--gpu-batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=0,
                   help="TF intra/inter-op threads (0: TF default); 1 with taskset -c N")
    p.add_argument("--lr", type=float,
                   help=f"initial learning rate of the staircase (default: a resumed state's "
                   f"own, else {RECIPE['lr']:g}); the rate at step s is "
                   "lr * 0.5 ** floor(s / decay)")
    p.add_argument("--lr-decay-steps", type=int,
                   help="halve the learning rate every N steps (default: a resumed state's "
                   f"own, else {RECIPE['lr_decay_steps']:,})")
    p.add_argument("--note", help="a remark stored with this session in sessions.json")
    p.add_argument("--ship", action="store_true",
                   help="afterwards write best weights and records into the preset registry")
    p.add_argument("--average-with-shipped", action="store_true",
                   help="with --ship: offer the mean of the run's best weights and the "
                   "preset's shipped ones (for a run fine-tuned from the shipped preset)")
    p.add_argument("--average-checkpoints", type=int, nargs="+", metavar="STEP",
                   help="with --ship: offer the mean of the state's checkpoints at these "
                   "steps (weight averaging of the last checkpoints) instead of its best")
    p.add_argument("--report", action="store_true",
                   help="only print the Markdown table of the registry's training records")
    args = p.parse_args(argv)
    if args.report:
        print(report(json.loads(REGISTRY.read_text())), end="")
        return 0
    if (args.average_with_shipped or args.average_checkpoints) and not args.ship:
        p.error("--average-with-shipped and --average-checkpoints need --ship")
    if args.average_with_shipped and args.average_checkpoints:
        p.error("choose one of --average-with-shipped and --average-checkpoints")
    if args.budget_minutes is None and not args.ship:
        p.error("--budget-minutes is required (or --report, or --ship alone)")

    names = [n.strip() for n in args.presets.split(",") if n.strip()]
    unknown = sorted(set(names) - set(PRESETS))
    if unknown:
        p.error(f"unknown preset(s) {', '.join(unknown)}; choose from {', '.join(PRESETS)}")
    if (args.budget_minutes is not None and args.budget_minutes <= 0) or args.rounds < 1:
        p.error("--budget-minutes must be > 0 and --rounds >= 1")
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    gpus = tf.config.list_physical_devices("GPU")
    gpu = bool(gpus)
    cores = len(os.sched_getaffinity(0))
    device = (f"GPU: {tf.config.experimental.get_device_details(gpus[0]).get('device_name')}"
              if gpu else f"CPU: {cores} of {os.cpu_count()} cores, "
              f"{args.threads or 'default'} TF thread(s)")
    what = f"for {args.budget_minutes:g} min" if args.budget_minutes else "(ship only)"
    print(f"training {', '.join(names)} {what} on {device}", flush=True)

    registry = json.loads(REGISTRY.read_text())
    splits = {}
    for name in names:
        folder = PRESETS[name][0]
        if folder not in splits:
            splits[folder] = split_folder(args.train_root / folder, args.work_dir,
                                          args.val_images)
    data = {n: (splits[PRESETS[n][0]][0], val_folder(n, splits[PRESETS[n][0]][1]))
            for n in names}
    if args.budget_minutes:
        train_rounds(names, args.rounds, args.budget_minutes * 60,
                     lambda name, seconds: train_for(
                         name, registry[name], args.state_dir / name, data[name], seconds,
                         gpu, args.gpu_batch, device, lr=args.lr,
                         lr_decay_steps=args.lr_decay_steps, note=args.note))
    if args.ship:
        ship(names, args.state_dir, device, {n: data[n][1] for n in names},
             average_with_shipped=args.average_with_shipped,
             average_checkpoints=args.average_checkpoints)
    return 0


if __name__ == "__main__":
    sys.exit(main())
