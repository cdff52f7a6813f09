#!/usr/bin/env python
"""Turn finished (or stopped) training runs into shipped presets.

For each ``NAME=RUN_DIR`` it loads ``RUN_DIR/best.keras`` (the best validation PSNR so
far), writes ``rnan_keras/presets/weights/NAME.weights.h5``, and records in
``rnan_keras/presets/presets.json``: the model config, parameter count, sha256 of the
weights, what the preset restores (e.g. sigma range) and the training record taken from
the run (data folder, steps, wall time, validation PSNR curve, hyper-parameters, and the
learning rate as the run logged it).

    python scripts/make_presets.py dn_rgb_small=runs/presets/dn_rgb_small ...
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
from pathlib import Path

DESCRIPTIONS = {
    "dn_rgb": "colour AWGN denoising, blind over sigma 0-75 (no sigma needed)",
    "dn_gray": "gray AWGN denoising, blind over sigma 0-75 (no sigma needed)",
    "demosaic": "demosaicing of GRBG Bayer mosaics (3-channel zero-filled input)",
    "car": "JPEG artifact reduction on the Y channel, blind over quality 10-40",
    "sr_x2": "bicubic super-resolution x2",
    "sr_x3": "bicubic super-resolution x3",
    "sr_x4": "bicubic super-resolution x4",
}


def read_curve(run: Path) -> list[dict]:
    """Rows of ``run/logs/train.csv`` as floats (None where a value is empty)."""
    path = run / "logs" / "train.csv"
    rows = []
    with open(path) as fh:
        for row in csv.DictReader(fh):
            rows.append({k: float(v) if v not in ("", None) else None for k, v in row.items()})
    return rows


def lr_logged(curve: list[dict]) -> list[list]:
    """``[[step, lr], ...]``: the learning rate logged in ``logs/train.csv`` (one row per
    checkpoint), at the first row of each new value. It is what the optimizer used, so a
    schedule changed on resume (``rnan train --lr-decay-steps``) shows here, while the
    run's ``config.json`` holds only its latest schedule. A rate first logged at step ``s``
    began after the previous row's step, at ``s`` at the latest."""
    out: list[list] = []
    for row in curve:
        if row.get("lr") is None:
            continue
        lr = float(f"{row['lr']:.6g}")  # float32 noise: 4.99999987e-05 -> 5e-05
        if not out or out[-1][1] != lr:
            out.append([int(row["step"]), lr])
    return out


def make_preset(name: str, run: Path, registry: dict, weights_dir: Path, model=None,
                step: int | None = None) -> dict:
    """Write ``name``'s weights and registry entry from ``run``: its ``best.keras`` by
    default, or ``model`` holding the weights of training step ``step``."""
    import keras

    from rnan_keras.presets.registry import sha256_file

    cfg = json.loads((run / "config.json").read_text())
    if model is None:
        model = keras.models.load_model(run / "best.keras", safe_mode=True, compile=False)
    curve = read_curve(run)
    vals = [r for r in curve if r.get("val_psnr") is not None]
    if step is not None:
        vals_at = [r for r in vals if int(r["step"]) == step]
        best = vals_at[0] if vals_at else {"step": step, "val_psnr": None}
    else:
        best = max(vals, key=lambda r: r["val_psnr"]) if vals else None
    weights = weights_dir / f"{name}.weights.h5"
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".weights.h5", dir=weights_dir)
    os.close(fd)
    model.save_weights(tmp)
    os.chmod(tmp, 0o644)
    os.replace(tmp, weights)
    model_cfg = model.rnan_config.to_dict()
    entry = {
        "variant": model_cfg["variant"],
        "description": DESCRIPTIONS[model_cfg["variant"]],
        "config": {k: v for k, v in model_cfg.items() if k != "variant"},
        "weights": weights.name,
        "sha256": sha256_file(weights),
        "size_bytes": weights.stat().st_size,
        "param_count": int(model.count_params()),
        "degradation": {"sigma": cfg.get("sigma"), "quality": cfg.get("quality")},
        "training": {
            "train_data": cfg["train_dir"],
            "val_data": cfg.get("val_dir"),
            "patch_size": cfg["patch_size"],
            "batch_size": cfg["batch_size"],
            "loss": cfg["loss"],
            "optimizer": "Adam(0.9, 0.999, 1e-8)",
            "lr_logged": lr_logged(curve),
            "steps": int(curve[-1]["step"]) if curve else 0,
            "wall_time_s": curve[-1].get("wall_time_s") if curve else None,
            "best_step": int(best["step"]) if best else None,
            "best_val_psnr": round(best["val_psnr"], 3)
            if best and best["val_psnr"] is not None else None,
            "val_psnr_curve": [[int(r["step"]), round(r["val_psnr"], 3)] for r in vals],
            "machine": "2-core CPU (no GPU), shared with other jobs",
        },
    }
    registry[name] = entry
    return entry


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="NAME=RUN_DIR pairs")
    args = p.parse_args()
    root = Path(__file__).resolve().parents[1] / "rnan_keras" / "presets"
    weights_dir = root / "weights"
    weights_dir.mkdir(exist_ok=True)
    registry_path = root / "presets.json"
    registry = json.loads(registry_path.read_text()) if registry_path.is_file() else {}
    for item in args.runs:
        name, _, run = item.partition("=")
        entry = make_preset(name, Path(run), registry, weights_dir)
        t = entry["training"]
        print(f"{name}: {entry['param_count']:,} params, {t['steps']} steps, "
              f"best val PSNR {t['best_val_psnr']} dB at step {t['best_step']}")
    tmp = registry_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(dict(sorted(registry.items())), indent=1) + "\n")
    os.replace(tmp, registry_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
