"""Benchmark the exports: time per image in Keras, SavedModel, TFLite and onnxruntime.

One model (random, well-conditioned weights: speed does not depend on them) is exported to
every format with the default tiling (96x96 tiles, 16 px overlap), then, in the same run,
each runtime restores the same noisy RGB image at each ``--sizes`` (default 256 and 512):
one untimed warm-up, then ``--repeats`` timed runs, median reported. The Keras row is
``rnan_keras.inference.tiling.predict_tiled`` with the same tile size (the project's own
Keras tiled inference, one ``tf.function`` call per tile). The export parity figures (max
|export - Keras| and PSNR change on a real image) come from the manifests.

Memory check (``--big``, default 1024): each runtime runs one ``big x big`` image in a fresh
process and reports its time and peak RSS (``ru_maxrss``), proving the exported graphs
do not run out of memory on large images.

Usage::

    python scripts/bench_export.py                       # n_feats 16, n_resgroups 2
    python scripts/bench_export.py --full --sizes 256    # the paper's size (slow on CPU)
    python scripts/bench_export.py --big 0 --repeats 5 --out /tmp/bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNTIMES = ("keras", "savedmodel", "tflite", "tflite_fp16", "tflite_int8", "onnxruntime")
EXPORTS = {  # runtime -> (format, quantization, file name)
    "savedmodel": ("savedmodel", "float32", "model_savedmodel"),
    "tflite": ("tflite", "float32", "model.tflite"),
    "tflite_fp16": ("tflite", "float16", "model_fp16.tflite"),
    "tflite_int8": ("tflite", "dynamic_int8", "model_int8.tflite"),
    "onnxruntime": ("onnx", "float32", "model.onnx"),
}


def _rss_mb() -> float:
    """Peak resident memory of this process in MB (``VmHWM``; ``ru_maxrss`` elsewhere).

    ``ru_maxrss`` survives ``execve`` on Linux, so a child started from a big parent would
    report the parent's peak; ``VmHWM`` belongs to the new address space only.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _image(size: int, channels: int) -> np.ndarray:  # noqa: F821
    import numpy as np

    from rnan_keras.export.parity import load_reference_image

    photo, _ = load_reference_image()
    reps = (-(-size // photo.shape[0]), -(-size // photo.shape[1]), 1)
    base = np.tile(photo[..., :channels], reps)[:size, :size]
    noisy = base + np.random.default_rng(0).normal(0, 25, base.shape)
    return noisy.astype(np.float32)[None]


def _model(args: argparse.Namespace):
    from rnan_keras.export.conditioning import conditioned_random_model

    return conditioned_random_model(args.variant, n_feats=args.n_feats,
                                    n_resgroups=args.n_resgroups)


def _runner(name: str, folder: Path, args: argparse.Namespace, model=None):
    """numpy (1, H, W, C) -> numpy output, for runtime ``name``."""
    if name == "keras":
        from rnan_keras.inference.tiling import model_function, predict_tiled

        model = model if model is not None else _model(args)
        predict = model_function(model)
        return lambda x: predict_tiled(model, x, args.tile, args.overlap, predict=predict)
    from rnan_keras.export import load_exported

    return load_exported(folder / EXPORTS[name][2], num_threads=args.threads)


def child(args: argparse.Namespace) -> None:
    """One runtime, one big image, in this fresh process: print time and peak RSS."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    name, folder = args.child, Path(args.folder)
    rss0 = _rss_mb()
    run = _runner(name, folder, args)
    image = _image(args.big, args.channels)
    run(image[:, :32, :32])  # warm-up / trace, small
    rss_loaded = _rss_mb()
    start = time.perf_counter()
    out = run(image)
    seconds = time.perf_counter() - start
    import numpy as np

    print(json.dumps({
        "runtime": name, "size": args.big, "seconds": round(seconds, 2),
        "peak_rss_mb": round(_rss_mb(), 1), "rss_after_load_mb": round(rss_loaded, 1),
        "rss_at_start_mb": round(rss0, 1), "output_shape": list(np.shape(out)),
        "finite": bool(np.isfinite(out).all()),
    }))


def export_all(model, folder: Path, args: argparse.Namespace) -> dict:
    from rnan_keras.export import export

    parity = {}
    for name, (fmt, quant, file) in EXPORTS.items():
        if name not in args.runtimes:
            continue
        start = time.perf_counter()
        result = export(model, folder / file, fmt, quantization=quant, tile=args.tile,
                        overlap=args.overlap, overwrite=True)
        probes = result.manifest["parity"]["probes"]
        parity[name] = {
            "export_seconds": round(time.perf_counter() - start, 1),
            "max_abs_diff": max(p["max_abs_diff"] for p in probes),
            "psnr_change_db": [p["psnr_change_db"] for p in probes],
            "probe_sizes": [p["input_shape"][1:3] for p in probes],
            "bytes": sum(f.stat().st_size for f in (folder / file).rglob("*") if f.is_file())
            if (folder / file).is_dir() else (folder / file).stat().st_size,
        }
        print(f"exported {name:12s} in {parity[name]['export_seconds']:6.1f}s  "
              f"max |diff| {parity[name]['max_abs_diff']:.3g}", flush=True)
    return parity


def time_all(model, folder: Path, args: argparse.Namespace) -> dict:
    timings: dict[str, dict[str, float]] = {name: {} for name in args.runtimes}
    for size in args.sizes:
        image = _image(size, args.channels)
        for name in args.runtimes:
            run = _runner(name, folder, args, model)
            run(image)  # warm-up (traces, allocates)
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                run(image)
                times.append(time.perf_counter() - start)
            timings[name][str(size)] = round(statistics.median(times), 3)
            print(f"{size}x{size} {name:12s} median {timings[name][str(size)]:.3f}s "
                  f"({args.repeats} runs)", flush=True)
    return timings


def memory_all(folder: Path, args: argparse.Namespace) -> dict:
    results = {}
    for name in args.runtimes:
        cmd = [sys.executable, __file__, "--child", name, "--folder", str(folder),
               "--big", str(args.big), "--variant", args.variant,
               "--n-feats", str(args.n_feats), "--n-resgroups", str(args.n_resgroups),
               "--tile", str(args.tile), "--overlap", str(args.overlap)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
        if proc.returncode != 0:
            results[name] = {"error": proc.stderr.strip().splitlines()[-1:] or ["failed"],
                             "returncode": proc.returncode}
        else:
            results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{args.big}x{args.big} {name:12s} {results[name]}", flush=True)
    return results


def table(result: dict) -> str:
    sizes = [str(s) for s in result["settings"]["sizes"]]
    head = ["runtime", *[f"{s}² s/img" for s in sizes], "max|diff|", "PSNR chg dB"]
    if result.get("memory"):
        head += [f"{result['settings']['big']}² s", "peak RSS MB"]
    rows = [head]
    for name in result["settings"]["runtimes"]:
        p = result["parity"].get(name, {})
        chg = p.get("psnr_change_db")
        row = [name, *[f"{result['timings'][name].get(s, float('nan')):.3f}" for s in sizes],
               f"{p['max_abs_diff']:.2g}" if p else "(ref)",
               "/".join(f"{c:+.3f}" if isinstance(c, float) else str(c) for c in chg)
               if chg else "-"]
        if result.get("memory"):
            m = result["memory"].get(name, {})
            row += [str(m.get("seconds", "fail")), str(m.get("peak_rss_mb", "-"))]
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variant", default="dn_rgb")
    p.add_argument("--n-feats", type=int, default=16)
    p.add_argument("--n-resgroups", type=int, default=2)
    p.add_argument("--full", action="store_true", help="the paper's size (64 feats, 10 groups)")
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--big", type=int, default=1024, help="memory-check size (0 to skip)")
    p.add_argument("--tile", type=int, default=96)
    p.add_argument("--overlap", type=int, default=16)
    p.add_argument("--threads", type=int, default=None, help="LiteRT / onnxruntime threads")
    p.add_argument("--runtimes", nargs="+", default=list(RUNTIMES), choices=RUNTIMES)
    p.add_argument("--folder", help="where to write the exports (default: a temp folder)")
    p.add_argument("--out", default="scripts/results/bench_export.json")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--channels", type=int, default=3, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.full:
        args.n_feats, args.n_resgroups = 64, 10
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.child:
        child(args)
        return

    from rnan_keras.models.config import get_variant_spec

    args.channels = get_variant_spec(args.variant).n_colors
    with tempfile.TemporaryDirectory(prefix="bench_export_") as tmp:
        folder = Path(args.folder or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        model = _model(args)
        parity = export_all(model, folder, args)
        timings = time_all(model, folder, args)
        memory = memory_all(folder, args) if args.big else {}
    import tensorflow as tf

    result = {
        "settings": {
            "variant": args.variant, "n_feats": args.n_feats, "n_resgroups": args.n_resgroups,
            "sizes": args.sizes, "repeats": args.repeats, "statistic": "median",
            "tile": args.tile, "overlap": args.overlap, "big": args.big,
            "runtimes": args.runtimes, "threads": args.threads,
            "keras_row": "predict_tiled (Python tile loop, tf.function per tile), same tile",
        },
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": platform.python_version(), "tensorflow": tf.__version__,
                    "load_average_at_end": [round(v, 1) for v in os.getloadavg()]},
        "parity": parity, "timings": timings, "memory": memory,
    }
    print()
    print(table(result))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_name(f".{out.name}.tmp")
    tmp_out.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp_out, out)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
