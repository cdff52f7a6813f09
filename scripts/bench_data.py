"""Benchmark: training-data throughput of the host and the device degradation paths.

Per task, ``make_dataset`` (batch 16, 48x48 input patches, cache on, augmentation on) runs
until its cache is full and is then timed over ``--batches`` batches, ``--repeats`` times
(median patches/s):

- ``host``: ``degrade="host"``: tf.data decodes, crops, augments and degrades (libjpeg JPEG)
  on the CPU;
- ``feed``: ``degrade="device"``: what tf.data still does there (clean uint8 patches and
  their settings);
- ``step``: ``dataset.degrade_fn`` alone on one batch, compiled as the train step compiles it
  (a plain graph and XLA), on TensorFlow's default device (the GPU when there is one);
- ``device``: feed and step together, as the model sees the device path: each batch of the
  device dataset degraded by the compiled ``degrade_fn`` (XLA where the trainer would use it:
  with a GPU; ``--jit`` forces it).

``--models`` also times the training step of RNAN configs of ``scripts/bench_train.py``
(Adam + L2 at the same batch) for the ratio data / model (> 1: data loading is not the
bottleneck). On a CPU-only machine the "device" is the same CPU, so the device path only
moves work from tf.data's threads into the train step; the point of it is a GPU.

Usage::

    python scripts/bench_data.py --out scripts/results/bench_data.json
    python scripts/bench_data.py --quick --tasks dn_rgb,car      # smoke run
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


def _sync(out) -> None:
    """Wait for a device result (one element back to the host)."""
    _ = out[0][0, 0, 0, 0].numpy()


def _rate(run_batches, batch: int, batches: int, repeats: int) -> dict:
    """Median patches/s of ``run_batches(batches)`` over ``repeats`` runs."""
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        run_batches(batches)
        rates.append(batches * batch / (time.perf_counter() - t))
    return {"patches_per_s": statistics.median(rates), "runs": rates}


def _warm_dataset(task: str, folder: Path, kwargs: dict, batch: int, patch: int, mode: str):
    """(dataset, iterator, first-pass seconds) after one full pass (the cache is filled)."""
    from rnan_keras.data.pipeline import make_dataset

    t0 = time.perf_counter()
    ds = make_dataset(task, folder, patch_size=patch, batch_size=batch, seed=0, degrade=mode,
                      **kwargs)
    it = iter(ds)
    for _ in range(-(-ds.stats.files_used // batch) + 2):
        next(it)
    return ds, it, time.perf_counter() - t0


def bench_task(task: str, folder: Path, kwargs: dict, args, jit: bool) -> dict:
    import tensorflow as tf

    b, n, r = args.batch, args.batches, args.repeats
    host, it, first = _warm_dataset(task, folder, kwargs, b, args.patch, "host")
    row = {"host": _rate(lambda k: [next(it) for _ in range(k)], b, n, r)
           | {"first_pass_s": first, "files": host.stats.files_used}}
    dev, it, first = _warm_dataset(task, folder, kwargs, b, args.patch, "device")
    row["feed"] = _rate(lambda k: [next(it) for _ in range(k)], b, n, r) | {
        "first_pass_s": first}
    sample = next(it)
    steps = {}
    for name, xla in (("graph", False), ("xla", True)):
        fn = tf.function(dev.degrade_fn, jit_compile=xla)
        t = time.perf_counter()
        _sync(fn(sample))
        compile_s = time.perf_counter() - t

        def run(k, fn=fn):
            for _ in range(k):
                out = fn(sample)
            _sync(out)

        run(2)
        steps[name] = fn
        row[f"step_{name}"] = _rate(run, b, n, r) | {"first_call_s": compile_s}
    step = steps["xla" if jit else "graph"]

    def device_path(k):
        for _ in range(k):
            out = step(next(it))
        _sync(out)

    row["device"] = _rate(device_path, b, n, r) | {"jit_compile": jit}
    return row


def bench_models(task: str, models: list[str], args) -> dict:
    from bench_train import CONFIGS, bench  # this script's folder is on sys.path

    return {name: bench(task, CONFIGS[name], args.batch, args.patch, args.model_steps, 1,
                        False) for name in models}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "train",
                        help="folder holding CBSD432/ and Train400/")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--patch", type=int, default=48)
    parser.add_argument("--batches", type=int, default=30, help="batches per timed run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jit", choices=("auto", "on", "off"), default="auto",
                        help="XLA for the device path's degradation (auto: with a GPU, as "
                        "the trainer does)")
    parser.add_argument("--models", default="small",
                        help="bench_train configs whose training step is timed per task "
                        "(comma-separated: small, tiny, full; '' for none)")
    parser.add_argument("--model-steps", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 8 batches, 1 repeat, no model timing")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    if args.quick:
        args.batches, args.repeats, args.models = 8, 1, ""

    import tensorflow as tf

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    gpu = bool(tf.config.list_physical_devices("GPU"))
    jit = gpu if args.jit == "auto" else args.jit == "on"
    tasks = [t for t in args.tasks.split(",") if t]
    models = [m for m in args.models.split(",") if m]
    results = {}
    for task in tasks:
        folder, kwargs = TASKS[task]
        print(f"[{task}] data ...", flush=True)
        row = bench_task(task, args.data / folder, kwargs, args, jit)
        row["train_set"] = folder
        row["degradation"] = {k: list(v) if isinstance(v, tuple) else v
                              for k, v in kwargs.items()}
        if models:
            print(f"[{task}] models {', '.join(models)} ...", flush=True)
            row["models"] = bench_models(task, models, args)
        results[task] = row

    cols = ["host", "feed", "step_graph", "step_xla", "device"]
    head = f"{'task':9}" + "".join(f"{c:>11}" for c in cols)
    head += "".join(f"{m + ' model':>12}{'host/m':>8}{'dev/m':>8}" for m in models)
    print(f"\npatches/s (batch {args.batch}, {args.patch}x{args.patch} inputs; device path "
          f"{'with' if jit else 'without'} XLA; {'GPU' if gpu else 'no GPU'})")
    print(head + "\n" + "-" * len(head))
    for task, row in results.items():
        line = f"{task:9}" + "".join(f"{row[c]['patches_per_s']:11.0f}" for c in cols)
        for m in models:
            pps = row["models"][m]["patches_per_s"]
            line += (f"{pps:12.1f}{row['host']['patches_per_s'] / pps:7.0f}x"
                     f"{row['device']['patches_per_s'] / pps:7.0f}x")
        print(line)

    report = {
        "benchmark": "bench_data",
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None
                                                         else sys.argv[1:])]),
        "machine": {"cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
                    "loadavg": os.getloadavg(), "platform": platform.platform(),
                    "tensorflow": tf.__version__, "gpu": gpu,
                    "intra_op_threads": os.environ.get("TF_NUM_INTRAOP_THREADS")},
        "config": {"batch": args.batch, "patch": args.patch, "batches": args.batches,
                   "repeats": args.repeats, "device_jit": jit, "models": models,
                   "model_steps": args.model_steps},
        "note": ("medians; host = tf.data with the degradation (CPU); feed = tf.data of the "
                 "device path (clean patches + settings); step_graph / step_xla = the "
                 "device-side degrade_fn alone on one batch on TensorFlow's default device; "
                 "device = feed + step as the train step sees them; models = training-step "
                 "consumption (bench_train.bench)"),
        "results": results,
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_name(args.out.name + ".tmp")
        tmp.write_text(json.dumps(report, indent=2) + "\n")
        os.replace(tmp, args.out)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
