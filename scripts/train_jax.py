#!/usr/bin/env python
"""Continue a preset's training on an accelerator through Keras 3 on JAX (no TensorFlow).

For a GPU machine that has JAX but no TensorFlow build (the lent H200 here has CUDA 13,
JAX and PyTorch; TensorFlow's wheels are too large to carry there). The model is the same
``build_model`` RNAN: its layers run a ``keras.ops`` path on JAX (:mod:`rnan_keras.backend`);
the optimizer is the trainer's (:func:`rnan_keras.training.schedules.make_optimizer`), the
loss the config's, and the run folder has the trainer's layout (``config.json``,
``checkpoints/ckpt-*.npz`` with model weights *and* Adam state, ``logs/train.csv``,
``summary.json``, ``sessions.json``), so ``rnan train --config OUT/config.json`` resumes it
on TensorFlow and ``scripts/train_presets.py --ship`` ships it.

Data (denoising and demosaicing tasks): random ``--patch-size`` crops of ``--train-dir``'s
images with a random flip / 90-degree rotation, degraded on the device inside the compiled
step: AWGN with sigma drawn per patch from the config's range (float, not clipped: the
pipeline's protocol), or the GRBG zero-filled mosaic (``bayer_masks``). Validation: PSNR on
``--val-dir``'s crops at the range's midpoint sigma, noise from a fixed numpy seed (the
device's own curve; shipping re-scores on TensorFlow with the trainer's protocol).

Example (a GPU machine; the run folder is resumable on CPU afterwards)::

    KERAS_BACKEND=jax python scripts/train_jax.py --init-state scripts/preset_training/dn_rgb_small \\
        --train-dir data/CBSD432/train --val-dir data/CBSD432/val --out runs/dn_rgb_gpu \\
        --minutes 6 --batch-size 64 --patch-size 48 --lr 1e-4 --halvings 3
"""

from __future__ import annotations

import argparse
import json
import math
import os
import queue
import sys
import tarfile
import threading
import time
from pathlib import Path

if __name__ == "__main__":  # not on import (tests): the environment is inherited
    os.environ.setdefault("KERAS_BACKEND", "jax")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import keras
import numpy as np

from rnan_keras.data.color_coeffs import GRAY_COEFFS
from rnan_keras.data.image_io import list_images, load_rgb
from rnan_keras.data.mosaic import bayer_masks
from rnan_keras.inference.evaluate import image_psnr
from rnan_keras.tasks import get_task
from rnan_keras.training.checkpoint import CheckpointManager
from rnan_keras.training.config import (
    CSV_FIELDS,
    atomic_write_text,
    config_from_dict,
    save_config,
)
from rnan_keras.training.losses import make_loss
from rnan_keras.training.schedules import make_optimizer

TASKS = ("dn_gray", "dn_rgb", "demosaic")  # degradations this script synthesises


def load_images(folder: Path, channels: int) -> list[np.ndarray]:
    """Every image of ``folder`` (sorted by name) as uint8 ``(H, W, channels)``."""
    out = []
    for f in list_images(folder):
        a, gray = load_rgb(f)  # the training pipeline's loader: uint8 RGB
        if channels == 1:  # as the pipeline: a gray file as is, else Matlab rgb2gray rounded
            a = a[..., :1] if gray else np.floor(a @ GRAY_COEFFS + 0.5).astype(np.uint8)[..., None]
        out.append(a)
    if not out:
        raise SystemExit(f"no images in {folder}")
    return out


def patch_batches(images, batch: int, patch: int, seed: int, stop: threading.Event,
                  q: queue.Queue) -> None:
    """Producer: uint8 ``(batch, patch, patch, C)`` random crops, flipped / rotated."""
    rng = np.random.default_rng(seed)
    usable = [im for im in images if min(im.shape[:2]) >= patch]
    while not stop.is_set():
        out = np.empty((batch, patch, patch, usable[0].shape[-1]), np.uint8)
        for k, i in enumerate(rng.integers(len(usable), size=batch)):
            im = usable[i]
            y = rng.integers(im.shape[0] - patch + 1)
            x = rng.integers(im.shape[1] - patch + 1)
            p = im[y:y + patch, x:x + patch]
            if rng.random() < 0.5:
                p = p[:, ::-1]
            out[k] = np.rot90(p, rng.integers(4))
        while not stop.is_set():
            try:
                q.put(out, timeout=0.5)
                break
            except queue.Full:
                continue


def mosaic_mask(h: int, w: int) -> np.ndarray:
    """The GRBG mask (the pipeline's pattern) tiled over ``(h, w, 3)``."""
    return np.tile(bayer_masks("GRBG"), ((h + 1) // 2, (w + 1) // 2, 1))[:h, :w]


def make_degrade(task: str, sigma, patch: int):
    """``(clean float32 [B, p, p, C], key) -> degraded``, in jax.numpy (runs in the step)."""
    import jax
    import jax.numpy as jnp

    if task == "demosaic":
        mask = jnp.asarray(mosaic_mask(patch, patch))
        return lambda clean, key: clean * mask
    low, high = (float(sigma[0]), float(sigma[1])) if isinstance(sigma, list | tuple) \
        else (float(sigma), float(sigma))

    def degrade(clean, key):
        k1, k2 = jax.random.split(key)
        s = jax.random.uniform(k1, (clean.shape[0], 1, 1, 1), minval=low, maxval=high)
        return clean + s * jax.random.normal(k2, clean.shape)

    return degrade


def val_pairs(task: str, sigma, folder: Path, channels: int):
    """Held-out ``(degraded, clean)`` float32 crops: mid-range sigma, fixed numpy noise."""
    clean = [im.astype(np.float32) for im in load_images(folder, channels)]
    rng = np.random.default_rng(1234)
    pairs = []
    for c in clean:
        c = c[: c.shape[0] // 2 * 2, : c.shape[1] // 2 * 2]
        if task == "demosaic":
            d = c * mosaic_mask(*c.shape[:2])
        else:
            s = float(np.mean(sigma)) if isinstance(sigma, list | tuple) else float(sigma)
            d = c + s * rng.standard_normal(c.shape).astype(np.float32)
        pairs.append((d[None], c[None]))
    return pairs


def write_tar(run: Path, tar_path: Path | None) -> None:
    """The run folder as one tar (atomic), for machines that return few files."""
    if tar_path is None:
        return
    tmp = tar_path.with_name(tar_path.name + ".tmp")
    with tarfile.open(tmp, "w") as t:
        t.add(run, arcname=run.name)
    os.replace(tmp, tar_path)


def build_parser() -> argparse.ArgumentParser:
    """The command line (``scripts/gpu_session.sh`` passes its candidates' flags to it)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n", 2)[2])
    p.add_argument("--init-state", type=Path, required=True,
                   help="a run folder (config.json + checkpoints/) whose latest weights start "
                        "this run, e.g. scripts/preset_training/dn_rgb_small")
    p.add_argument("--train-dir", type=Path, required=True, help="training images")
    p.add_argument("--val-dir", type=Path, required=True, help="held-out validation crops")
    p.add_argument("--out", type=Path, required=True, help="new run folder (must not exist)")
    p.add_argument("--minutes", type=float, required=True, help="training wall time")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--patch-size", type=int, default=48)
    p.add_argument("--lr", type=float, default=1e-4, help="initial learning rate")
    p.add_argument("--halvings", type=int, default=3,
                   help="learning-rate halvings over the run (steps set from the measured "
                        "speed after the first --probe-steps steps)")
    p.add_argument("--probe-steps", type=int, default=100,
                   help="warm-up steps at lr / 10 that also time the step")
    p.add_argument("--n-feats", type=int, default=None,
                   help="widen the start model to this many features (same function)")
    p.add_argument("--ckpt-minutes", type=float, default=1.0, help="checkpoint interval")
    p.add_argument("--tar", type=Path, default=None,
                   help="also keep the run folder as this tar file, rewritten at every "
                        "checkpoint")
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    import jax

    from rnan_keras import build_model
    from rnan_keras.models.widen import widen

    if keras.backend.backend() != "jax":
        raise SystemExit("set KERAS_BACKEND=jax (this script drives JAX's jit and autodiff)")
    if args.out.exists():
        raise SystemExit(f"{args.out} exists; give a new run folder")
    src = json.loads((args.init_state / "config.json").read_text())
    ckpts = CheckpointManager(args.init_state / "checkpoints").list()
    if not ckpts:
        raise SystemExit(f"{args.init_state}: no checkpoint to start from")
    task = src["task"]
    if task not in TASKS:
        raise SystemExit(f"task {task!r}: this script synthesises {', '.join(TASKS)} only")
    start = CheckpointManager.load(ckpts[0][1])
    keras.utils.set_random_seed(args.seed)
    model = build_model(task, **src["model"])
    model.set_weights(start.model_weights)
    model_cfg = dict(src["model"])
    if args.n_feats and args.n_feats != model_cfg["n_feats"]:
        model = widen(model, args.n_feats, seed=args.seed)
        model_cfg["n_feats"] = args.n_feats
    devices = ", ".join(str(d) for d in jax.devices())
    print(f"{task}: start {ckpts[0][1]} (step {start.step}), {model.count_params():,} "
          f"parameters, {devices}", flush=True)

    # The run's config: the trainer's fields, this run's data, batch, patch and schedule.
    cfg = {**src, "model": model_cfg, "batch_size": args.batch_size,
           "patch_size": args.patch_size, "lr": args.lr, "lr_decay_scale": 1.0,
           "train_dir": str(args.train_dir), "val_dir": str(args.val_dir), "out": str(args.out),
           "init_model": None, "init_official": None, "init_preset": None,
           "mixed_precision": False, "keep_checkpoints": 1, "seed": args.seed}
    channels = get_task(task).n_colors
    images = load_images(args.train_dir, channels)
    pairs = val_pairs(task, src["sigma"], args.val_dir, channels)
    degrade = make_degrade(task, src["sigma"], args.patch_size)
    loss_fn = make_loss(src["loss"])

    def validate(tv, ntv) -> float:
        vals = []
        for d, c in pairs:
            y, _ = model.stateless_call(tv, ntv, d)
            vals.append(image_psnr(np.asarray(y)[0], c[0], task))
        return float(np.mean(vals))

    def compute_loss(tv, ntv, x, y):
        pred, ntv = model.stateless_call(tv, ntv, x, training=True)
        return loss_fn(y, pred), (ntv, pred)

    grad_fn = jax.value_and_grad(compute_loss, has_aux=True)

    def make_step(optimizer):
        @jax.jit
        def step(tv, ntv, ov, clean_u8, key):
            clean = clean_u8.astype("float32")
            x = degrade(clean, key)
            (loss, (ntv, pred)), grads = grad_fn(tv, ntv, x, clean)
            tv, ov = optimizer.stateless_apply(ov, grads, tv)
            mse = keras.ops.mean(keras.ops.square(pred - clean))
            return tv, ntv, ov, loss, 10.0 * keras.ops.log10(255.0 ** 2 / mse)
        return step

    def optimizer_for(decay_steps: int, lr: float = args.lr):
        opt = make_optimizer(config_from_dict({**cfg, "lr": lr, "lr_decay_steps": decay_steps}))
        opt.build(model.trainable_variables)
        return opt

    stop = threading.Event()
    q: queue.Queue = queue.Queue(maxsize=16)
    workers = [threading.Thread(target=patch_batches, daemon=True,
                                args=(images, args.batch_size, args.patch_size,
                                      args.seed * 100 + i, stop, q)) for i in range(4)]
    for w in workers:
        w.start()

    tv = [v.value for v in model.trainable_variables]
    ntv = [v.value for v in model.non_trainable_variables]
    key = jax.random.PRNGKey(args.seed)
    budget = args.minutes * 60.0
    t0 = time.time()
    val0 = validate(tv, ntv)
    print(f"held-out PSNR at the start: {val0:.3f} dB", flush=True)

    # Probe the speed at a tenth of the learning rate (a warm-up: fresh Adam moments, and a
    # widened model's new channels), then fix the halving interval so that the run ends after
    # --halvings halvings at the time budget.
    opt = optimizer_for(10 ** 9, args.lr / 10)
    ov = [v.value for v in opt.variables]
    step_fn = make_step(opt)
    done, rows, losses, psnrs = 0, [], [], []
    best = (val0, 0)
    args.out.mkdir(parents=True)
    manager = CheckpointManager(args.out / "checkpoints", keep=1)
    last_ckpt = time.time()

    def checkpoint(final: bool = False) -> None:
        nonlocal best, last_ckpt
        val = validate(tv, ntv)
        if val > best[0]:
            best = (val, done)
        for v, a in zip(model.trainable_variables, tv, strict=True):
            v.assign(a)
        for v, a in zip(model.non_trainable_variables, ntv, strict=True):
            v.assign(a)
        for v, a in zip(opt.variables, ov, strict=True):
            v.assign(a)
        lr = float(opt.learning_rate)
        wall = time.time() - t0
        rows.append({"step": done, "loss": float(np.mean(losses)), "psnr": float(np.mean(psnrs)),
                     "lr": lr, "val_psnr": val, "wall_time_s": round(wall, 3)})
        losses.clear()
        psnrs.clear()
        manager.save(model, opt, {"step": done, "optimizer_iterations": done, "lr": lr,
                                  "best_val_psnr": best[0], "best_step": best[1],
                                  "last_val_psnr": val, "last_val_step": done,
                                  "wall_time_s": wall, "init_from": str(args.init_state),
                                  "task": task})
        lines = [",".join(CSV_FIELDS)] + [",".join(str(r[k]) for k in CSV_FIELDS) for r in rows]
        atomic_write_text(args.out / "logs" / "train.csv", "\n".join(lines) + "\n")
        summary = {"status": "complete" if final else "running", "task": task, "steps": done,
                   "optimizer_iterations": done, "final_lr": lr, "wall_time_s": wall,
                   "final_val_psnr": val, "best_val_psnr": best[0], "best_step": best[1],
                   "parameters": model.count_params(), "train_dir": str(args.train_dir),
                   "val_dir": str(args.val_dir), "init_from": f"state:{args.init_state.name}",
                   "start_val_psnr": val0, "backend": "jax", "devices": devices,
                   "val_protocol": "device: mid-range sigma, numpy seed 1234"}
        atomic_write_text(args.out / "summary.json", json.dumps(summary, indent=2) + "\n")
        save_config(config_from_dict(cfg), args.out / "config.json")
        sessions = [{"date": time.strftime("%Y-%m-%d"), "device": f"JAX {devices}",
                     "from_step": 0, "to_step": done, "wall_time_s": round(wall, 1)}]
        atomic_write_text(args.out / "sessions.json", json.dumps(sessions, indent=1) + "\n")
        write_tar(args.out, args.tar)
        last_ckpt = time.time()
        print(f"step {done}: loss {rows[-1]['loss']:.2f}, train PSNR {rows[-1]['psnr']:.2f}, "
              f"held-out {val:.3f} dB, lr {lr:.3g}, {wall:.0f} s", flush=True)

    probe_t = None
    total = None
    while True:
        clean = q.get()
        key, sub = jax.random.split(key)
        tv, ntv, ov, loss, ps = step_fn(tv, ntv, ov, clean, sub)
        done += 1
        if done % 20 == 0:
            losses.append(float(loss))
            psnrs.append(float(ps))
        if done == 10:
            jax.block_until_ready(tv)
            probe_t = time.time()
        elif done == 10 + args.probe_steps:
            jax.block_until_ready(tv)
            sec = (time.time() - probe_t) / args.probe_steps
            total = done + int((budget - (time.time() - t0)) / sec)
            interval = max(1, math.ceil(total / (args.halvings + 1)))
            print(f"{sec * 1000:.1f} ms per step: {total} steps, lr halved every {interval}",
                  flush=True)
            # Same optimizer variables (iterations, moments): only the schedule changes.
            cfg["lr_decay_steps"], cfg["steps"] = interval, total
            opt = optimizer_for(interval)
            step_fn = make_step(opt)
        if total is not None and done >= total:
            break
        if time.time() - t0 > budget:
            break
        if time.time() - last_ckpt > args.ckpt_minutes * 60 and losses:
            checkpoint()
    if not losses:
        losses.append(float(loss))
        psnrs.append(float(ps))
    checkpoint(final=True)
    stop.set()
    print(f"done: {done} steps in {time.time() - t0:.0f} s; held-out {val0:.3f} -> "
          f"{rows[-1]['val_psnr']:.3f} dB (best {best[0]:.3f} at step {best[1]})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
