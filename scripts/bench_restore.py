"""Benchmark ``rnan_keras.restore`` on colour images of growing size: time, peak RSS, tiles.

Each size runs in a fresh Python process (so ``ru_maxrss`` is that size's peak) with the
full-size ``dn_rgb`` model (random weights: speed and memory do not depend on them) and
``tile="auto"``. The model is traced on a small input first (not timed); then the image is
restored ``--repeats`` times and the median time is reported. A size whose run would pass
``--max-seconds`` is stopped after that time: its peak RSS is still measured (the output
buffers are allocated up front and every tile has the same size, so memory has reached its
plateau), and its time is extrapolated from the tiles done (marked ``partial``).

``--preset NAME`` times a shipped preset (gray input for a gray preset) instead, and
``--windows 0 48`` compares the non-local attention over each whole tile (0, the paper's)
with attention in 48-pixel windows (``non_local_window``), each size and window in its own
process, in one run.

Usage::

    python scripts/bench_restore.py --out scripts/results/bench_restore.json
    python scripts/bench_restore.py --sizes 256 512 --repeats 3 --max-memory 4G
    python scripts/bench_restore.py --preset dn_gray_small --sizes 256 512 --windows 0 48 \
        --out scripts/results/bench_restore_windows.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_SIZES = (256, 512, 1024, 2048)


class _Stop(Exception):
    pass


def child(args: argparse.Namespace) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np

    from rnan_keras import build_model, load_preset
    from rnan_keras.inference import memory
    from rnan_keras.inference.restore import resolve_tile
    from rnan_keras.inference.tiling import count_tiles, model_function, predict_tiled

    size = args.child
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if args.preset:
        model = load_preset(args.preset, non_local_window=args.window)
    else:
        model = build_model(args.variant, non_local_window=args.window)
    channels = int(model.inputs[0].shape[-1])
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size]
    base = 128 + 60 * np.sin(xx / 37.0)[..., None] * np.cos(yy / 23.0)[..., None]
    image = np.clip(base + rng.normal(0, 25, (size, size, channels)), 0, 255).astype(np.float32)

    predict = model_function(model)
    predict(image[None, :32, :32])  # trace once, not timed
    rss_model = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    tile, runner = resolve_tile(
        model, size, size, args.tile, max_memory=args.max_memory, c_in=channels, c_out=channels
    )
    if runner is not model:
        predict = model_function(runner)
    n_tiles = count_tiles(size, size, tile, args.overlap)
    times: list[float] = []
    partial = False
    done_tiles = 0
    for _ in range(args.repeats):
        counter = {"n": 0}
        start = time.perf_counter()

        def tick(_n: int, counter=counter, start=start) -> None:
            counter["n"] += 1
            if time.perf_counter() - start > args.max_seconds and counter["n"] < n_tiles:
                raise _Stop

        try:
            predict_tiled(runner, image, tile, args.overlap, scale=1, predict=predict,
                          progress=tick)
        except _Stop:
            partial = True
            done_tiles = counter["n"]
            elapsed = time.perf_counter() - start
            times.append(elapsed / done_tiles * n_tiles)
            break
        times.append(time.perf_counter() - start)
        done_tiles = n_tiles
        if sum(times) > args.max_seconds:
            break
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "size": size,
        "variant": model.rnan_config.variant,
        "preset": args.preset,
        "non_local_window": args.window,
        "params": int(model.count_params()),
        "tile": tile,
        "overlap": args.overlap,
        "tiles": n_tiles,
        "tiles_done": done_tiles,
        "partial": partial,
        "repeats": len(times),
        "seconds_median": statistics.median(times),
        "seconds_all": times,
        "seconds_per_tile": statistics.median(times) / n_tiles,
        "peak_rss_mib": peak / 1024,
        "rss_after_model_mib": rss_model / 1024,
        "rss_at_start_mib": rss_start / 1024,
        "budget_gib": memory.resolve_budget(args.max_memory) / memory.GIB,
    }


def parent(args: argparse.Namespace) -> int:
    results = []
    load_before = os.getloadavg()[0]
    script = Path(__file__).resolve()
    for size, window in [(s, w) for s in args.sizes for w in args.windows]:
        cmd = [
            sys.executable, str(script), "--child", str(size), "--variant", args.variant,
            "--tile", str(args.tile), "--overlap", str(args.overlap), "--repeats",
            str(args.repeats), "--max-seconds", str(args.max_seconds), "--window", str(window),
        ]
        if args.preset:
            cmd += ["--preset", args.preset]
        if args.max_memory:
            cmd += ["--max-memory", args.max_memory]
        print(f"running {size}x{size}, window {window} ...", file=sys.stderr, flush=True)
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=args.max_seconds * 3 + 300,
                check=False,
            )
        except subprocess.TimeoutExpired:
            results.append({"size": size, "error": "timeout"})
            continue
        line = [x for x in proc.stdout.splitlines() if x.startswith("{")]
        if proc.returncode != 0 or not line:
            tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
            results.append({"size": size, "error": f"exit {proc.returncode}: {tail}"})
            continue
        results.append(json.loads(line[-1]))

    header = (f"{'size':>10} {'window':>6} {'tile':>5} {'tiles':>6} {'time (s)':>10} {'s/tile':>7} "
              f"{'peak RSS (MiB)':>15}  note")
    print(header)
    for r in results:
        if "error" in r:
            print(f"{r['size']:>5}x{r['size']:<4}  {r['error']}")
            continue
        note = (f"partial: {r['tiles_done']}/{r['tiles']} tiles, time extrapolated"
                if r["partial"] else f"median of {r['repeats']}")
        print(f"{r['size']:>5}x{r['size']:<4} {r['non_local_window']:>6} {r['tile']!s:>5} "
              f"{r['tiles']:>6} "
              f"{r['seconds_median']:>10.1f} {r['seconds_per_tile']:>7.2f} "
              f"{r['peak_rss_mib']:>15.0f}  {note}")
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "benchmark": (f"restore, tile={args.tile}, preset {args.preset}" if args.preset else
                          f"restore, tile={args.tile}, full-size model, random weights"),
            "machine": {"cpus": os.cpu_count(), "platform": sys.platform},
            "load_1min_before": load_before,
            "settings": {"variant": args.variant, "preset": args.preset,
                         "windows": args.windows, "tile": args.tile, "overlap": args.overlap,
                         "repeats": args.repeats, "max_seconds": args.max_seconds,
                         "max_memory": args.max_memory},
            "results": results,
        }
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(json.dumps(payload, indent=2) + "\n")
        os.replace(tmp, out)
        print(f"wrote {out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--variant", default="dn_rgb",
                        help="full-size model of this task, random weights (default dn_rgb)")
    parser.add_argument("--preset", help="time this shipped preset instead of --variant")
    parser.add_argument("--windows", type=int, nargs="+", default=[0],
                        help="non_local_window values to compare (0: whole tile, default)")
    parser.add_argument("--window", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--tile", default="auto", help="auto, none or a number")
    parser.add_argument("--overlap", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-seconds", type=float, default=600.0,
                        help="per size: stop and extrapolate after this long (default 600)")
    parser.add_argument("--max-memory", help="memory budget, e.g. 4G (default: automatic)")
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.tile not in ("auto", "none"):
        args.tile = int(args.tile)
    if args.child:
        print(json.dumps(child(args)), flush=True)
        return 0
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
