#!/usr/bin/env python
"""Speed of RNAN on this machine, against the machine's own measured peak, in one run.

Prints a table and writes JSON (``--out``). Every time is the median of ``--repeats`` runs
after a warm-up. Measured:

- the practical peak: a float32 matmul (2048^2 by default) in TensorFlow, GFLOP/s;
- each model's GFLOP for one 96x96 forward pass (TF profiler, non-local blocks dense) and
  the achieved GFLOP/s, as a share of the peak;
- the non-local blocks' share of the forward time (same model with ``use_non_local=False``);
- one training step (Adam + L2, compiled as the trainer compiles it) of the small and the
  full config, batch 16 x 48^2 (``--full-batch`` for the full one);
- ``rnan restore`` of a 512^2 colour image with the full ``dn_rgb`` model, as a
  subprocess (start-up included);
- the small colour-denoising preset on a 481x321 image (``rnan_keras.restore``);
- peak RSS of two full-model training steps, batch 4 x 96^2, dense vs chunked attention
  (fresh processes; ``--parts memory``), and a 96^2 forward with and without XLA;
- with ``--tile-images DIR``: that preset on the first ``--tile-n`` images with the tile
  ``tile="auto"`` picks (the calibrated speed policy) vs 96^2 tiles, PSNR and time (AWGN 25).

    python scripts/bench_speed.py --out scripts/results/bench_speed.json
    python scripts/bench_speed.py --parts tiles --tile-images ../shared/data/testsets/CBSD68
    python scripts/bench_speed.py --quick          # small sizes, a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def median_time(fn, repeats: int, warmup: int = 1) -> tuple[float, list[float]]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def matmul_peak(n: int, repeats: int) -> dict:
    import tensorflow as tf

    a = tf.random.stateless_normal((n, n), seed=[0, 1])
    b = tf.random.stateless_normal((n, n), seed=[0, 2])
    fn = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    med, _ = median_time(lambda: fn().numpy(), repeats, warmup=2)
    return {"n": n, "median_s": med, "gflops": 2 * n**3 / med / 1e9}


def profiled_gflop(model, hw: int) -> float:
    """Float operations of one forward pass, counted by the TF profiler (dense attention)."""
    import tensorflow as tf
    from tensorflow.python.profiler import model_analyzer, option_builder

    from rnan_keras.models.rnan import with_non_local_mode

    if getattr(model, "rnan_config", None) is not None and model.rnan_config.use_non_local:
        model = with_non_local_mode(model, "dense")
    c = model.input_shape[-1]
    fn = tf.function(lambda x: model(x, training=False))
    graph = fn.get_concrete_function(tf.TensorSpec([1, hw, hw, c], tf.float32)).graph
    tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)  # v1-API notices
    opts = option_builder.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    return model_analyzer.profile(graph, options=opts).total_float_ops / 1e9


def forward(variant: str, overrides: dict, hw: int, repeats: int) -> dict:
    import numpy as np
    import tensorflow as tf

    from rnan_keras import build_model

    model = build_model(variant, **overrides)
    c = model.input_shape[-1]
    x = tf.constant(np.random.default_rng(0).uniform(0, 255, (1, hw, hw, c)), tf.float32)
    fn = tf.function(lambda t: model(t, training=False))
    med, times = median_time(lambda: fn(x).numpy(), repeats)
    gflop = profiled_gflop(model, hw)
    return {"variant": variant, "overrides": overrides, "size": hw, "median_s": med,
            "all_s": times, "gflop": gflop, "gflops": gflop / med,
            "parameters": model.count_params()}


def train_step(variant: str, overrides: dict, batch: int, patch: int, repeats: int) -> dict:
    """One training step (Adam + L2), timed as ``scripts/bench_train.py`` times it."""
    from bench_train import bench  # this script's folder is on sys.path

    return bench(variant, overrides, batch, patch, repeats, warmup=2, mixed=False)


def restore_cli(size: int, overrides: dict) -> dict:
    """``rnan restore`` in a fresh process (start-up included) on a size^2 colour image."""
    import numpy as np

    from rnan_keras import build_model
    from rnan_keras.data.image_io import write_image

    with tempfile.TemporaryDirectory() as tmp:
        model = build_model("dn_rgb", **overrides)
        model.save(Path(tmp) / "m.keras")
        img = np.random.default_rng(0).integers(0, 256, (size, size, 3)).astype(np.uint8)
        write_image(Path(tmp) / "in.png", img)
        cmd = [sys.executable, "-m", "rnan_keras.cli.main", "restore", str(Path(tmp) / "in.png"),
               "-o", str(Path(tmp) / "out.png"), "--model", str(Path(tmp) / "m.keras"),
               "--tile", "auto", "-q"]
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"rnan restore failed: {done.stderr[-1000:]}")
    return {"size": size, "overrides": overrides, "seconds": seconds}


def preset_restore(preset: str, hw: tuple[int, int], repeats: int) -> dict:
    import numpy as np

    import rnan_keras

    img = np.random.default_rng(0).integers(0, 256, (*hw, 3)).astype(np.uint8)
    model = rnan_keras.load_preset(preset)
    med, times = median_time(lambda: rnan_keras.restore(img, model, progress=False), repeats)
    return {"preset": preset, "height": hw[0], "width": hw[1], "median_s": med, "all_s": times}


def tile_policy(folder: Path, n_images: int, sigma: float) -> dict:
    """The small preset with ``tile="auto"`` vs 96^2 tiles: PSNR and time on real images."""
    import numpy as np

    import rnan_keras
    from rnan_keras.data.image_io import list_images, read_image
    from rnan_keras.inference import memory
    from rnan_keras.metrics import psnr

    model = rnan_keras.load_preset("dn_rgb_small")
    rows = []
    for i, path in enumerate(list_images(folder)[:n_images]):
        clean = read_image(path)[..., :3].astype(np.float32)
        noisy = clean + np.random.default_rng(i).normal(0, sigma, clean.shape).astype("float32")
        noisy = np.clip(noisy, 0, 255)
        row = {"image": path.name}
        for name, tile in (("auto", "auto"), ("96", 96)):
            start = time.perf_counter()
            out = rnan_keras.restore(noisy, model, tile=tile, progress=False)
            row[f"seconds_{name}"] = time.perf_counter() - start
            row[f"psnr_{name}"] = psnr(out, clean)
        row["auto_tile"] = memory.resolve_tile(model, *clean.shape[:2], "auto")[0]
        rows.append(row)
    diff = [r["psnr_auto"] - r["psnr_96"] for r in rows]
    return {"images": rows, "sigma": sigma, "mean_psnr_change_db": float(np.mean(diff)),
            "max_abs_psnr_change_db": float(np.max(np.abs(diff))),
            "median_s_auto": statistics.median(r["seconds_auto"] for r in rows),
            "median_s_96": statistics.median(r["seconds_96"] for r in rows)}


TRAIN_MEMORY = """
import sys, numpy as np, keras
from rnan_keras import build_model
from rnan_keras.training.config import TrainConfig
from rnan_keras.training.schedules import make_optimizer
from rnan_keras.training.trainer import _compile


def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) * 1024


mode, batch, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
model = build_model("dn_rgb", non_local_mode=mode, chunk_size=128)
cfg = TrainConfig(task="dn_rgb")
_compile(model, make_optimizer(cfg), cfg, jit=False)
rng = np.random.default_rng(0)
x = rng.uniform(0, 255, (batch, size, size, 3)).astype("float32")
before = hwm()
model.train_on_batch(x, x)
model.train_on_batch(x, x)
print("RESULT", before, hwm())
"""


def train_memory(batch: int, size: int) -> list[dict]:
    """Peak RSS of full-model training steps, dense vs chunked attention, fresh processes."""
    rows = []
    for mode in ("dense", "chunked"):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", TRAIN_MEMORY, mode, str(batch), str(size)],
                              capture_output=True, text=True, check=False,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT")), None)
        if done.returncode != 0 or line is None:
            rows.append({"mode": mode, "error": done.stderr.strip().splitlines()[-1:]})
            continue
        before, peak = (int(v) for v in line.split()[1:])
        rows.append({"mode": mode, "batch": batch, "size": size, "peak_rss_bytes": peak,
                     "growth_bytes": peak - before, "seconds": time.perf_counter() - start})
    return rows


def xla_forward(hw: int, repeats: int) -> dict:
    """Full ``dn_rgb`` forward on one tile with and without XLA."""
    import numpy as np
    import tensorflow as tf

    from rnan_keras import build_model

    model = build_model("dn_rgb")
    x = tf.constant(np.random.default_rng(0).uniform(0, 255, (1, hw, hw, 3)), tf.float32)
    out = {}
    for jit in (False, True):
        fn = tf.function(lambda t: model(t, training=False), jit_compile=jit)
        out["xla" if jit else "graph"] = median_time(lambda f=fn: f(x).numpy(), repeats)[0]
    return out


PARTS = ("peak", "forward", "train", "restore", "preset", "tiles", "memory", "xla")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (3)")
    p.add_argument("--full-batch", type=int, default=16, help="batch of the full-config step")
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    p.add_argument("--out", type=Path, help="write the results as JSON here")
    p.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                   help="what to measure (default all)")
    p.add_argument("--tile-images", type=Path, metavar="DIR",
                   help="colour images for the tile-policy check (e.g. CBSD68); "
                   "skipped without it")
    p.add_argument("--tile-n", type=int, default=8, help="images of --tile-images (8)")
    args = p.parse_args(argv)
    parts = set(args.parts)
    quick = args.quick
    small = {"n_feats": 16, "n_resgroups": 2}
    full = {"n_feats": 16, "n_resgroups": 2} if quick else {}
    hw = 24 if quick else 96
    load = os.getloadavg()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)

    res: dict = {"meta": {"machine": platform.platform(), "cpus": os.cpu_count(),
                          "load_before": load, "repeats": args.repeats, "quick": quick}}
    if parts & {"peak", "forward"}:
        res["peak"] = matmul_peak(512 if quick else 2048, args.repeats)
        print(f"matmul peak: {res['peak']['gflops']:.1f} GFLOP/s", flush=True)
    if "forward" in parts:
        forward_part(res, full, small, hw, args.repeats)
    if "train" in parts:
        train_part(res, full, small, quick, args)
    if "restore" in parts:
        res["restore_cli"] = restore_cli(64 if quick else 512, full)
        print(f"rnan restore {res['restore_cli']['size']}^2 colour, full model, start-up "
              f"included: {res['restore_cli']['seconds']:.1f} s", flush=True)
    if "preset" in parts:
        res["preset_restore"] = preset_restore("dn_rgb_small",
                                               (48, 40) if quick else (321, 481), args.repeats)
        r = res["preset_restore"]
        print(f"dn_rgb_small on {r['width']}x{r['height']}: {r['median_s']:.1f} s", flush=True)
    if "tiles" in parts and args.tile_images:
        r = res["tile_policy"] = tile_policy(args.tile_images, args.tile_n, 25.0)
        print(f"tile policy, dn_rgb_small, sigma 25, {len(r['images'])} images: auto "
              f"{r['median_s_auto']:.1f} s vs 96^2 {r['median_s_96']:.1f} s per image; PSNR "
              f"change {r['mean_psnr_change_db']:+.3f} dB (max "
              f"|{r['max_abs_psnr_change_db']:.3f}|); tiles chosen {sorted({x['auto_tile'] for x in r['images']})}", flush=True)
    if "memory" in parts:
        res["train_memory"] = train_memory(2 if quick else 4, 24 if quick else 96)
        for r in res["train_memory"]:
            if "error" in r:
                print(f"train step peak RSS, {r['mode']}: failed {r['error']}", flush=True)
            else:
                print(f"train step, full model, batch {r['batch']} x {r['size']}^2, "
                      f"{r['mode']} attention: peak RSS {r['peak_rss_bytes'] / 2**30:.2f} GiB "
                      f"(+{r['growth_bytes'] / 2**30:.2f} GiB in the steps)", flush=True)
    if "xla" in parts:
        r = res["xla_forward"] = xla_forward(hw, args.repeats)
        print(f"full model {hw}^2 forward: graph {r['graph']:.3f} s, XLA {r['xla']:.3f} s",
              flush=True)
    res["meta"]["load_after"] = os.getloadavg()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=2))
        print(f"wrote {args.out}")
    return 0


def forward_part(res: dict, full: dict, small: dict, hw: int, repeats: int) -> None:
    peak = res["peak"]["gflops"]
    rows = []
    for name, variant, over in (("dn_rgb full", "dn_rgb", full),
                                ("dn_rgb full, no non-local", "dn_rgb",
                                 {**full, "use_non_local": False}),
                                ("dn_rgb small", "dn_rgb", small)):
        r = forward(variant, over, hw, repeats)
        r.update(name=name, share_of_peak=r["gflops"] / peak)
        rows.append(r)
        print(f"{name:28s} {hw}^2 forward {r['median_s']:7.3f} s  {r['gflop']:7.2f} GFLOP  "
              f"{r['gflops']:6.1f} GFLOP/s ({100 * r['share_of_peak']:.0f} % of peak)",
              flush=True)
    res["forward"] = rows
    share = 1 - rows[1]["median_s"] / rows[0]["median_s"]
    res["non_local_time_share"] = share
    print(f"non-local blocks: {100 * share:.0f} % of the full model's forward time", flush=True)


def train_part(res: dict, full: dict, small: dict, quick: bool, args) -> None:
    res["train_step"] = [
        train_step("dn_rgb", small, 4 if quick else 16, 24 if quick else 48, args.repeats),
        train_step("dn_rgb", full, 2 if quick else args.full_batch, 24 if quick else 48,
                   args.repeats),
    ]
    for r in res["train_step"]:
        print(f"train step {r['overrides'] or 'full'}: batch {r['batch']} x {r['patch']}^2 "
              f"{r['median_step_s']:.2f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
