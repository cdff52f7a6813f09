#!/usr/bin/env python
"""Training throughput (steps/s) of RNAN configs with the real train step (Adam, L2).

Times ``model.train_on_batch`` on random 0-255 batches after warm-up; prints a table and
writes JSON with ``--out``. Medians over ``--repeats`` timed steps.

    python scripts/bench_train.py --configs full small --batch 16 --patch 48 --steps 4
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CONFIGS = {
    "full": {},
    "small": {"n_feats": 16, "n_resgroups": 2},
    "tiny": {"n_feats": 8, "n_resgroups": 2},
}


def bench(variant: str, overrides: dict, batch: int, patch: int, steps: int, warmup: int,
          mixed: bool) -> dict:
    import keras
    import numpy as np

    from rnan_keras import build_model
    from rnan_keras.metrics.keras_metrics import psnr_metric
    from rnan_keras.training.config import TrainConfig
    from rnan_keras.training.losses import make_loss
    from rnan_keras.training.schedules import make_optimizer

    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    model = build_model(variant, **overrides)
    cfg = TrainConfig(task=variant, mixed_precision=mixed)
    model.compile(make_optimizer(cfg), make_loss("l2"), metrics=[psnr_metric])
    rng = np.random.default_rng(0)
    c = model.input_shape[-1]
    x = rng.uniform(0, 255, (batch, patch, patch, c)).astype("float32")
    y = model.predict(x, verbose=0)  # target of the right (SR) shape
    for _ in range(warmup):
        model.train_on_batch(x, y)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    return {"variant": variant, "overrides": overrides, "parameters": model.count_params(),
            "batch": batch, "patch": patch, "mixed_precision": mixed, "steps_timed": steps,
            "median_step_s": med, "steps_per_s": 1.0 / med,
            "patches_per_s": batch / med, "all_step_s": times}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", default="dn_rgb")
    p.add_argument("--configs", nargs="+", default=["full", "small"], choices=list(CONFIGS))
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--patch", type=int, default=48)
    p.add_argument("--steps", type=int, default=4, help="timed steps (median reported)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--mixed-precision", action="store_true")
    p.add_argument("--out", help="write the results as JSON here")
    a = p.parse_args()
    rows = [bench(a.variant, CONFIGS[name], a.batch, a.patch, a.steps, a.warmup,
                  a.mixed_precision) | {"config": name} for name in a.configs]
    print(f"{'config':8} {'params':>10} {'batch':>5} {'patch':>5} {'s/step':>8} "
          f"{'steps/s':>8} {'patches/s':>9}")
    for r in rows:
        print(f"{r['config']:8} {r['parameters']:>10,} {r['batch']:>5} {r['patch']:>5} "
              f"{r['median_step_s']:>8.3f} {r['steps_per_s']:>8.3f} {r['patches_per_s']:>9.1f}")
    if a.out:
        import tensorflow as tf

        from rnan_keras.training.config import atomic_write_text

        meta = {"machine": platform.machine(), "cpus": os.cpu_count(),
                "tensorflow": tf.__version__, "gpus": len(tf.config.list_physical_devices("GPU"))}
        atomic_write_text(a.out, json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
