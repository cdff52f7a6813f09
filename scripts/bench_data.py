"""Benchmark: tf.data pipeline throughput vs RNAN training-step consumption.

For each task, ``make_dataset`` (batch 16, 48x48 input patches, cache on, augmentation on)
is run until its cache is full, then timed over ``--batches`` batches, ``--repeats`` times
(median patches/s). The training-step consumption (patches/s of ``train_on_batch`` with
Adam + L1 at the same batch) is timed for a small model (``n_feats=16, n_resgroups=2``) on
every task and for the full model on ``--full-tasks`` (a few steps: it is slow on CPU).
The ratio pipeline / model tells whether data loading can be the bottleneck (> 1: no).
Pipeline and model are timed separately; during real training they share the cores.

Usage::

    python scripts/bench_data.py --out scripts/results/bench_data.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TASKS = {
    # task: (training folder under data/train, degradation kwargs)
    "dn_gray": ("Train400", {"sigma": 25.0}),
    "dn_rgb": ("CBSD432", {"sigma": (0.0, 75.0)}),
    "demosaic": ("CBSD432", {}),
    "car": ("CBSD432", {"quality": (10, 40)}),
    "sr_x2": ("CBSD432", {}),
    "sr_x3": ("CBSD432", {}),
    "sr_x4": ("CBSD432", {}),
}


def bench_pipeline(task: str, folder: Path, kwargs: dict, batch: int, patch: int,
                   batches: int, repeats: int) -> dict:
    from rnan_keras.data.pipeline import make_dataset

    t0 = time.perf_counter()
    ds = make_dataset(task, folder, patch_size=patch, batch_size=batch, seed=0, **kwargs)
    it = iter(ds)
    n_files = ds.stats.files_used
    warm = -(-n_files // batch) + 2  # one full pass so that the cache is filled
    for _ in range(warm):
        next(it)
    first_pass = time.perf_counter() - t0
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(batches):
            next(it)
        rates.append(batches * batch / (time.perf_counter() - t))
    return {"patches_per_s": statistics.median(rates), "runs": rates,
            "first_pass_s": first_pass, "files": n_files}


def bench_model(task: str, batch: int, patch: int, steps: int, **overrides) -> dict:
    import keras
    import numpy as np

    from rnan_keras import build_model
    from rnan_keras.data.degradations import get_task

    info = get_task(task)
    model = build_model(task, **overrides)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="mean_absolute_error")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (batch, patch, patch, info.n_colors)).astype("float32")
    hr = patch * info.scale
    y = rng.uniform(0, 255, (batch, hr, hr, info.n_colors)).astype("float32")
    t = time.perf_counter()
    model.train_on_batch(x, y)  # tracing / first step
    first = time.perf_counter() - t
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - t)
    step = statistics.median(times)
    return {"step_s": step, "step_runs_s": times, "first_step_s": first,
            "patches_per_s": batch / step, "params": int(model.count_params()),
            "overrides": overrides}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "train",
                        help="folder holding CBSD432/ and Train400/")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--patch", type=int, default=48)
    parser.add_argument("--batches", type=int, default=30, help="batches per timed run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--small-steps", type=int, default=5)
    parser.add_argument("--full-steps", type=int, default=2)
    parser.add_argument("--full-tasks", default="dn_rgb,sr_x4",
                        help="tasks whose full model is timed ('' for none)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)

    import tensorflow as tf

    tasks = [t for t in args.tasks.split(",") if t]
    full_tasks = [t for t in args.full_tasks.split(",") if t]
    results = {}
    for task in tasks:
        folder, kwargs = TASKS[task]
        print(f"[{task}] pipeline ...", flush=True)
        row = {"pipeline": bench_pipeline(task, args.data / folder, kwargs, args.batch,
                                          args.patch, args.batches, args.repeats),
               "train_set": folder, "degradation": {k: list(v) if isinstance(v, tuple) else v
                                                    for k, v in kwargs.items()}}
        print(f"[{task}] small model ...", flush=True)
        row["small_model"] = bench_model(task, args.batch, args.patch, args.small_steps,
                                         n_feats=16, n_resgroups=2)
        if task in full_tasks:
            print(f"[{task}] full model ...", flush=True)
            row["full_model"] = bench_model(task, args.batch, args.patch, args.full_steps)
        pps = row["pipeline"]["patches_per_s"]
        for key in ("small_model", "full_model"):
            if key in row:
                row[key]["pipeline_ratio"] = pps / row[key]["patches_per_s"]
        results[task] = row

    header = (f"{'task':9} {'pipeline p/s':>13} {'small p/s':>10} {'ratio':>7} "
              f"{'full p/s':>9} {'ratio':>8}")
    print("\n" + header + "\n" + "-" * len(header))
    for task, row in results.items():
        small = row["small_model"]
        full = row.get("full_model")
        full_txt = (f"{full['patches_per_s']:9.2f} {full['pipeline_ratio']:7.0f}x" if full
                    else f"{'-':>9} {'-':>8}")
        print(f"{task:9} {row['pipeline']['patches_per_s']:13.0f} "
              f"{small['patches_per_s']:10.1f} {small['pipeline_ratio']:6.1f}x {full_txt}")

    report = {
        "benchmark": "bench_data",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "tensorflow": tf.__version__,
                    "gpu": bool(tf.config.list_physical_devices("GPU"))},
        "config": {"batch": args.batch, "patch": args.patch, "batches": args.batches,
                   "repeats": args.repeats, "small_steps": args.small_steps,
                   "full_steps": args.full_steps,
                   "small_model": {"n_feats": 16, "n_resgroups": 2}},
        "note": ("pipeline and model timed separately, medians; ratio = pipeline patches/s "
                 "/ model patches/s (training-step consumption)"),
        "results": results,
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_name(args.out.name + ".tmp")
        tmp.write_text(json.dumps(report, indent=2))
        os.replace(tmp, args.out)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
