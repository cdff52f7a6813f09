#!/usr/bin/env python
"""Choose a preset's configuration by measurement: train variants side by side.

Each variant is the preset's registry config plus a JSON mapping of ``build_model``
overrides; all train the same number of steps, from the same initialisation rule (zero
tail), on the same held-out split as ``scripts/train_presets.py``, and the validation PSNR
curves are printed and written to ``--out``.

    python scripts/compare_configs.py demosaic_small '{}' '{"demosaic_bilinear_skip": true}' \\
        --steps 400 --out scripts/results/compare_demosaic_skip.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_presets import PRESETS, RECIPE, REGISTRY, ROOT, recipe_config, split_folder


def compare(name: str, variants: list[dict], steps: int, work: Path, train_root: Path,
            n_val: int, batch: int) -> list[dict]:
    from make_presets import read_curve

    from rnan_keras.training.trainer import train

    entry = json.loads(REGISTRY.read_text())[name]
    train_dir, val_dir = split_folder(train_root / PRESETS[name][0], work / "data", n_val)
    every = max(1, steps // 4)
    results = []
    for i, overrides in enumerate(variants):
        out = work / f"variant_{i}"
        config = recipe_config(entry, {**entry["config"], **overrides}, train_dir, val_dir,
                               out, steps=steps, batch=batch, every=every)
        start = time.monotonic()
        summary = train(config)
        curve = [[int(r["step"]), round(r["val_psnr"], 3)]
                 for r in read_curve(out) if r.get("val_psnr") is not None]
        results.append({"overrides": overrides, "parameters": summary["parameters"],
                        "wall_time_s": round(time.monotonic() - start, 1),
                        "val_psnr_curve": curve})
        print(f"{json.dumps(overrides)}: val PSNR {curve}", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("preset", choices=sorted(PRESETS))
    p.add_argument("variants", nargs="+", help="JSON build_model overrides, one per variant")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--batch", type=int, default=RECIPE["cpu_batch"])
    p.add_argument("--train-root", type=Path, default=ROOT.parent / "shared/data/train")
    p.add_argument("--val-images", type=int, default=8)
    p.add_argument("--work-dir", type=Path, default=ROOT / "runs" / "compare_configs")
    p.add_argument("--out", help="JSON output")
    args = p.parse_args(argv)
    try:
        variants = [json.loads(v) for v in args.variants]
    except json.JSONDecodeError as exc:
        p.error(f"a variant is not JSON: {exc}")
    if not all(isinstance(v, dict) for v in variants):
        p.error("each variant must be a JSON object of build_model overrides")
    results = compare(args.preset, variants, args.steps, args.work_dir, args.train_root,
                      args.val_images, args.batch)
    if args.out:
        from rnan_keras.data.image_io import atomic_write_bytes

        record = {"preset": args.preset, "steps": args.steps, "batch": args.batch,
                  "machine": f"{os.cpu_count()}-core CPU", "variants": results}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(args.out, (json.dumps(record, indent=1) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
