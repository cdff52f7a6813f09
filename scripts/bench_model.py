#!/usr/bin/env python
"""Forward time and peak memory of an RNAN model, dense vs chunked non-local attention.

Each (mode, size) runs in a fresh subprocess so its peak RSS (``ru_maxrss``) is its own.
Prints a table and writes JSON with ``--out``. Times are medians of ``--repeats`` runs
after one warm-up; a run that fails (e.g. out of memory) is recorded with its error.

    python scripts/bench_model.py --variant dn_rgb --sizes 64 128 256 --out bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def _child(args: argparse.Namespace) -> None:
    import resource

    import numpy as np
    import tensorflow as tf

    import rnan_keras

    overrides = json.loads(args.overrides)
    model = rnan_keras.build_model(
        args.variant, non_local_mode=args.mode, chunk_size=args.chunk_size, **overrides
    )
    c = model.rnan_config.n_colors
    fn = tf.function(model, input_signature=[tf.TensorSpec([None, None, None, c])])
    x = tf.constant(np.random.default_rng(0).uniform(0, 255, (1, args.size, args.size, c)), tf.float32)
    fn(x).numpy()  # warm-up / trace
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        fn(x).numpy()
        times.append(time.perf_counter() - t)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"times": times, "peak_rss_mib": peak_kb / 1024,
                      "params": model.count_params()}))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", default="dn_rgb")
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    p.add_argument("--modes", nargs="+", default=["dense", "chunked"], choices=["dense", "chunked"])
    p.add_argument("--chunk-size", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--overrides", default="{}", help='JSON build_model overrides, e.g. \'{"n_feats": 16}\'')
    p.add_argument("--timeout", type=float, default=900, help="seconds per measurement")
    p.add_argument("--out", help="write results as JSON here")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    p.add_argument("--mode", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        _child(args)
        return 0

    rows = []
    print(f"{'mode':8s} {'size':>6s} {'median s':>9s} {'peak RSS MiB':>13s}  note")
    for size in args.sizes:
        for mode in args.modes:
            cmd = [sys.executable, __file__, "--child", "--variant", args.variant, "--size", str(size),
                   "--mode", mode, "--chunk-size", str(args.chunk_size), "--repeats", str(args.repeats),
                   "--overrides", args.overrides]
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
            row = {"variant": args.variant, "overrides": json.loads(args.overrides), "mode": mode,
                   "size": size, "chunk_size": args.chunk_size}
            try:
                res = subprocess.run(
                    cmd, capture_output=True, text=True, timeout=args.timeout, env=env, check=False
                )
                if res.returncode != 0:
                    tail = (res.stderr.strip().splitlines() or ["killed"])[-1]
                    row.update(ok=False, error=f"exit {res.returncode}: {tail[-200:]}")
                else:
                    data = json.loads(res.stdout.strip().splitlines()[-1])
                    times = sorted(data["times"])
                    row.update(ok=True, median_s=times[len(times) // 2], times_s=data["times"],
                               peak_rss_mib=round(data["peak_rss_mib"], 1), params=data["params"])
            except subprocess.TimeoutExpired:
                row.update(ok=False, error=f"timeout after {args.timeout:.0f} s")
            rows.append(row)
            if row["ok"]:
                print(f"{mode:8s} {size:6d} {row['median_s']:9.3f} {row['peak_rss_mib']:13.1f}")
            else:
                print(f"{mode:8s} {size:6d} {'-':>9s} {'-':>13s}  {row['error']}")
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        tmp = args.out + ".tmp"
        with open(tmp, "w") as fh:
            json.dump({"machine": os.uname().machine, "cpus": os.cpu_count(), "rows": rows}, fh, indent=1)
        os.replace(tmp, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
