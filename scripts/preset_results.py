#!/usr/bin/env python
"""Presets vs the classical baselines a user would otherwise pick, on the benchmark sets.

For each task: the shipped preset (``restore_array``, tile auto) beside
- denoising: the noisy input, CBM3D / BM3D (``bm3d`` package) and OpenCV non-local means;
- demosaicing: bilinear, Malvar 2004 and Menon 2007 (``colour-demosaicing``);
- JPEG artifact reduction: the JPEG input itself (Y channel);
- super-resolution: bicubic (Matlab-compatible), Y channel with a scale-pixel border crop;
with mean PSNR / SSIM and seconds per image on this machine, and the paper's full-size RNAN
number where ``rnan_keras/metrics/paper_results.json`` has one (the ceiling).

Degradations use the fixed-seed evaluation protocol (image ``i`` uses seed ``(seed, i)``),
so every method sees the same inputs. Baselines whose package is missing are skipped with
a note. Writes JSON (``--out``) and a Markdown table (``--markdown``).

    python scripts/preset_results.py --max-images 4 --out scripts/results/preset_results.json \
        --markdown scripts/results/preset_results.md
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# (task, preset, dataset, levels) -- levels are sigma / quality / None
PLAN = [
    ("dn_rgb", "dn_rgb_small", "CBSD68", [15, 25, 50]),
    ("dn_gray", "dn_gray_small", "Set12", [15, 25, 50]),
    ("demosaic", "demosaic_small", "McMaster", [None]),
    ("car", "car_small", "LIVE1", [10, 20, 40]),
    ("sr_x2", "sr_x2_small", "Set5", [None]),
    ("sr_x3", "sr_x3_small", "Set5", [None]),
    ("sr_x4", "sr_x4_small", "Set5", [None]),
]


def _baselines(task: str, level):
    """name -> function(degraded float 0-255 HWC) -> restored float 0-255 HWC."""
    out = {}
    if task.startswith("dn"):
        out["noisy input"] = lambda x: x
        try:
            import bm3d

            if task == "dn_rgb":
                out["CBM3D"] = lambda x: 255 * bm3d.bm3d_rgb(x / 255.0, level / 255.0)
            else:
                out["BM3D"] = lambda x: 255 * bm3d.bm3d(x[..., 0] / 255.0, level / 255.0)[..., None]
        except ImportError:
            pass
        try:
            import cv2

            h = 0.8 * level  # a common rule of thumb for OpenCV's filter strength

            def nlm(x):
                u8 = np.clip(np.round(x), 0, 255).astype(np.uint8)
                if task == "dn_rgb":
                    return cv2.fastNlMeansDenoisingColored(u8, None, h, h, 7, 21).astype("float32")
                return cv2.fastNlMeansDenoising(u8[..., 0], None, h, 7, 21)[..., None].astype("float32")

            out["OpenCV NLM"] = nlm
        except ImportError:
            pass
    elif task == "demosaic":
        try:
            import colour_demosaicing as cd

            def cfa(x):  # 3-channel zero-filled GRBG mosaic -> 2-D CFA
                return x.sum(axis=-1) / 255.0

            out["bilinear"] = lambda x: 255 * cd.demosaicing_CFA_Bayer_bilinear(cfa(x), "GRBG")
            out["Malvar 2004"] = lambda x: 255 * cd.demosaicing_CFA_Bayer_Malvar2004(cfa(x), "GRBG")
            out["Menon 2007"] = lambda x: 255 * cd.demosaicing_CFA_Bayer_Menon2007(cfa(x), "GRBG")
        except ImportError:
            pass
    elif task == "car":
        out["JPEG input"] = lambda x: x
    else:
        from rnan_keras.data.degradations import imresize

        scale = int(task[4:])
        out["bicubic"] = lambda x: np.asarray(imresize(x.astype("float32"), scale))
    return out


def _paper(task: str, dataset: str, level):
    data = json.loads((ROOT / "rnan_keras" / "metrics" / "paper_results.json").read_text())
    for r in data["results"]:
        same = r["task"] == task and r["dataset"] == dataset
        if same and (level is None or level in (r.get("sigma"), r.get("quality"))):
            return r["psnr"]
    return None


def run(args) -> list[dict]:
    import rnan_keras
    from rnan_keras.data.pipeline import make_eval_dataset
    from rnan_keras.inference.evaluate import protocol_for
    from rnan_keras.inference.restore import restore_array
    from rnan_keras.metrics import psnr, ssim

    rows = []
    for task, preset, dataset, levels in PLAN:
        if args.tasks and task not in args.tasks:
            continue
        folder = Path(args.data_root) / dataset
        if dataset == "Set5":
            folder = folder / "HR"
        model = rnan_keras.load_preset(preset)
        crop, y = protocol_for(task)
        for level in levels:
            kw = {"sigma": float(level)} if task.startswith("dn") else {}
            if task == "car":
                kw = {"quality": int(level)}
            ds = make_eval_dataset(task, str(folder), seed=args.seed, **kw)
            methods = {f"RNAN preset {preset}": None, **_baselines(task, level)}
            scores = {m: {"psnr": [], "ssim": [], "seconds": []} for m in methods}
            for i, item in enumerate(ds):
                if args.max_images and i >= args.max_images:
                    break
                degraded = np.asarray(item[0], np.float32)
                clean = np.asarray(item[1], np.float32)
                if degraded.ndim == 4:  # the eval dataset yields batches of one image
                    degraded, clean = degraded[0], clean[0]
                for name, fn in methods.items():
                    t = time.perf_counter()
                    if fn is None:
                        # the unclipped float input of the paper protocol (noise may exceed 0-255)
                        out = restore_array(model, degraded, tile=args.tile)
                    else:
                        out = fn(degraded)
                    dt = time.perf_counter() - t
                    out = np.clip(np.asarray(out, np.float64), 0, 255)
                    scores[name]["psnr"].append(psnr(out, clean, crop_border=crop, y_channel=y))
                    scores[name]["ssim"].append(ssim(out, clean, crop_border=crop, y_channel=y))
                    scores[name]["seconds"].append(dt)
            for name, s in scores.items():
                row = {
                    "task": task, "dataset": dataset, "level": level, "method": name,
                    "n_images": len(s["psnr"]),
                    "psnr": round(float(np.mean(s["psnr"])), 2),
                    "ssim": round(float(np.mean(s["ssim"])), 4),
                    "seconds_per_image": round(float(np.median(s["seconds"])), 2),
                }
                rows.append(row)
                print(f"{task:8s} {dataset:8s} {level!s:>4s} {name:28s} "
                      f"{row['psnr']:6.2f} dB {row['ssim']:.4f} {row['seconds_per_image']:7.2f} s",
                      flush=True)
            paper = _paper(task, dataset, level)
            if paper is not None:
                rows.append({"task": task, "dataset": dataset, "level": level,
                             "method": "RNAN full size (paper)", "psnr": paper})
    return rows


def to_markdown(rows: list[dict]) -> str:
    lines = ["| task | set | level | method | PSNR | SSIM | s / image |", "|---|---|---|---|---:|---:|---:|"]
    for r in rows:
        lvl = "" if r["level"] is None else str(r["level"])
        ssim_s = f"{r['ssim']:.4f}" if r.get("ssim") is not None else ""
        sec = f"{r['seconds_per_image']:.2f}" if r.get("seconds_per_image") is not None else ""
        lines.append(f"| {r['task']} | {r['dataset']} | {lvl} | {r['method']} | "
                     f"{r['psnr']:.2f} | {ssim_s} | {sec} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data" / "testsets"))
    p.add_argument("--max-images", type=int, default=4, help="first N images per set (0 = all)")
    p.add_argument("--tasks", nargs="*", help="only these tasks")
    p.add_argument("--tile", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="JSON output")
    p.add_argument("--markdown", help="Markdown table output")
    args = p.parse_args()
    if args.tile not in ("auto", "none"):
        args.tile = int(args.tile)
    rows = run(args)
    meta = {"machine": f"{os.cpu_count()} CPU cores, no GPU", "max_images": args.max_images,
            "seed": args.seed, "rows": rows}
    for path, text in ((args.out, json.dumps(meta, indent=1)), (args.markdown, to_markdown(rows))):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            tmp = f"{path}.tmp"
            Path(tmp).write_text(text)
            os.replace(tmp, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
