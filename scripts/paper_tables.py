"""Run the protocol of one of the RNAN paper's result tables and print ours beside the paper's.

Tables (see ``rnan_keras/metrics/paper_results.json`` for the paper's numbers and their
sources):

- 2: gray denoising (dn_gray), sigma 10/30/50/70, Kodak24 (as gray), BSD68, Urban100
- 3: colour denoising (dn_rgb), sigma 10/30/50/70, Kodak24, CBSD68, Urban100
- 4: demosaicing (GRBG), McMaster18, Kodak24, CBSD68, Urban100
- 5: JPEG artifact reduction (car, Y channel), quality 10/20/30/40, LIVE1, Classic5
- 6: super-resolution x2/x3/x4 (Y channel, border = scale), Set5, Set14, B100, Urban100,
  Manga109

Datasets are looked up under ``--data-root`` (default: ``$RNAN_SHARED_DIR/data/testsets`` or
``../shared/data/testsets``); missing ones are skipped with a note. The paper trained one
model per noise level / quality / scale, so give either one model for every level
(``--model``), a file template (``--model-template 'models/dn_rgb_s{sigma}.keras'``; fields
``{task}``, ``{sigma}``, ``{quality}``, ``{scale}``) or a preset (``--preset NAME``, which
receives the level, or ``--preset-template``).

The reference column is the degraded input (noisy / mosaiced / JPEG) or Matlab bicubic for
SR. ``--classical cbm3d,nlm`` adds CBM3D (``pip install bm3d``) and OpenCV non-local means
(``pip install opencv-python-headless``) for the denoising tables when those packages are
installed.

Examples::

    python scripts/paper_tables.py --table 3 --levels 50 --model dn_rgb_s50.keras
    python scripts/paper_tables.py --table 6 --model-template 'sr_x{scale}.keras' --out t6.json
    python scripts/paper_tables.py --table 5 --list
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAPER_FILE = REPO / "rnan_keras" / "metrics" / "paper_results.json"

DATASET_DIRS = {
    "Kodak24": "Kodak24",
    "BSD68": "BSD68",
    "CBSD68": "CBSD68",
    "McMaster18": "McMaster",
    "Urban100": "Urban100",
    "Classic5": "Classic5",
    "LIVE1": "LIVE1",
    "Set5": "Set5/HR",
    "Set14": "Set14",
    "B100": "B100",
    "Manga109": "Manga109",
}

TABLES = {
    2: {"task": "dn_gray", "level": "sigma", "values": [10, 30, 50, 70],
        "datasets": ["Kodak24", "BSD68", "Urban100"]},
    3: {"task": "dn_rgb", "level": "sigma", "values": [10, 30, 50, 70],
        "datasets": ["Kodak24", "CBSD68", "Urban100"]},
    4: {"task": "demosaic", "level": None, "values": [None],
        "datasets": ["McMaster18", "Kodak24", "CBSD68", "Urban100"]},
    5: {"task": "car", "level": "quality", "values": [10, 20, 30, 40],
        "datasets": ["LIVE1", "Classic5"]},
    6: {"task": "sr", "level": "scale", "values": [2, 3, 4],
        "datasets": ["Set5", "Set14", "B100", "Urban100", "Manga109"]},
}


def default_data_root() -> Path:
    shared = os.environ.get("RNAN_SHARED_DIR")
    base = Path(shared) if shared else REPO.parent / "shared"
    return base / "data" / "testsets"


def load_paper() -> dict:
    return json.loads(PAPER_FILE.read_text())


def paper_value(paper: dict, table: int, dataset: str, level: str | None, value) -> dict | None:
    for row in paper["results"]:
        if row["table"] != table or row["dataset"] != dataset:
            continue
        if level is None or row.get(level) == value:
            return row
    return None


def task_for(table: int, value) -> str:
    spec = TABLES[table]
    return f"sr_x{value}" if spec["task"] == "sr" else spec["task"]


def model_for(args: argparse.Namespace, task: str, level: str | None, value):
    from rnan_keras.inference.restore import resolve_model

    fields = {"task": task, "sigma": "", "quality": "", "scale": ""}
    if level:
        fields[level] = value
    if args.model:
        return resolve_model(args.model)
    if args.model_template:
        return resolve_model(args.model_template.format(**fields))
    if args.preset_template:
        return resolve_model(args.preset_template.format(**fields))
    return resolve_model(args.preset)


def classical(method: str, task: str, degraded, sigma: float):
    """CBM3D or OpenCV NLM on a float 0-255 noisy image, or None if not installed."""
    import numpy as np

    if method == "cbm3d":
        try:
            import bm3d
        except ImportError:
            return None
        z = degraded / 255.0
        out = bm3d.bm3d_rgb(z, sigma / 255.0) if z.shape[2] == 3 else bm3d.bm3d(
            z[:, :, 0], sigma / 255.0
        )[:, :, None]
        return np.asarray(out) * 255.0
    if method == "nlm":
        try:
            import cv2
        except ImportError:
            return None
        u8 = np.floor(np.clip(degraded, 0, 255) + 0.5).astype(np.uint8)
        h = 0.8 * sigma
        if u8.shape[2] == 3:
            return cv2.fastNlMeansDenoisingColored(u8, None, h, h, 7, 21).astype(np.float64)
        return cv2.fastNlMeansDenoising(u8[:, :, 0], None, h, 7, 21)[:, :, None].astype(
            np.float64
        )
    raise SystemExit(f"unknown classical method {method!r} (cbm3d, nlm)")


def run_classical(methods, task, folder, sigma, seed, max_images) -> dict:
    from rnan_keras.data.pipeline import make_eval_dataset
    from rnan_keras.inference.evaluate import quantize
    from rnan_keras.metrics import psnr

    scores: dict[str, list[float]] = {m: [] for m in methods}
    ds = make_eval_dataset(task, folder, sigma=sigma, seed=seed)
    for i, (degraded, clean) in enumerate(ds):
        if max_images is not None and i >= max_images:
            break
        for m in methods:
            out = classical(m, task, degraded.numpy()[0].astype("float64"), sigma)
            if out is not None:
                scores[m].append(psnr(quantize(out), clean.numpy()[0]))
    return {m: (sum(v) / len(v) if v else None) for m, v in scores.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", type=int, required=True, choices=sorted(TABLES))
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--model", help="one .keras model used for every level")
    source.add_argument("--model-template", help="e.g. 'models/dn_rgb_s{sigma}.keras'")
    source.add_argument("--preset", help="preset name (the level is passed to the registry)")
    source.add_argument("--preset-template", help="e.g. 'dn_rgb_sigma{sigma}'")
    parser.add_argument("--levels", type=int, nargs="+", help="only these sigma/quality/scale")
    parser.add_argument("--datasets", nargs="+", help="only these datasets")
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--max-images", type=int, help="first N images per dataset")
    parser.add_argument("--tile", default="auto")
    parser.add_argument("--ensemble", action="store_true", help="self-ensemble x8 (RNAN+)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--classical", default="", help="comma list: cbm3d, nlm (denoising)")
    parser.add_argument("--list", action="store_true",
                        help="only list the datasets found and the paper's numbers")
    parser.add_argument("--out", help="write all rows as JSON")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    spec = TABLES[args.table]
    paper = load_paper()
    root = args.data_root or default_data_root()
    values = [v for v in spec["values"] if not args.levels or v in args.levels]
    datasets = [d for d in spec["datasets"] if not args.datasets or d in args.datasets]
    found = {d: root / DATASET_DIRS[d] for d in datasets if (root / DATASET_DIRS[d]).is_dir()}
    for d in datasets:
        if d not in found:
            print(f"note: {d} not found under {root}; skipped", file=sys.stderr)
    methods = [m for m in args.classical.split(",") if m]
    if methods and not spec["task"].startswith("dn"):
        raise SystemExit("--classical applies to the denoising tables (2 and 3)")
    if not args.list and not (args.model or args.model_template or args.preset
                              or args.preset_template):
        raise SystemExit("give --model, --model-template, --preset or --preset-template "
                         "(or --list)")
    tile = args.tile if args.tile in ("auto", "none") else int(args.tile)

    level = spec["level"]
    rows = []
    for value in values:
        task = task_for(args.table, value)
        model = None if args.list else model_for(args, task, level, value)
        for dataset in datasets:
            ref = paper_value(paper, args.table, dataset, level, value)
            row = {"table": args.table, "task": task, "dataset": dataset,
                   "level": level, "value": value,
                   "paper_psnr": ref and ref["psnr"], "paper_ssim": ref and ref.get("ssim"),
                   "paper_source": ref and ref["source"], "found": dataset in found}
            if not args.list and dataset in found:
                from rnan_keras.inference.evaluate import evaluate

                kwargs = {level: value} if level in ("sigma", "quality") else {}
                result, _ = evaluate(model, task, found[dataset], seed=args.seed, tile=tile,
                                     ensemble=args.ensemble, max_images=args.max_images,
                                     progress=False, **kwargs)
                mean = result.mean()
                row.update({"images": len(result.images), "psnr": mean["psnr"],
                            "ssim": mean["ssim"], "reference_psnr": mean["baseline_psnr"],
                            "reference_ssim": mean["baseline_ssim"]})
                if methods:
                    row["classical"] = run_classical(methods, task, found[dataset], value,
                                                     args.seed, args.max_images)
            rows.append(row)

    def f(v, digits=2):
        return "-" if v is None else f"{v:.{digits}f}"

    ref_name = "Bicubic" if spec["task"] == "sr" else "Input"
    extra = "".join(f" {m.upper()} |" for m in methods)
    print(f"Table {args.table}: {task_for(args.table, values[0]) if values else spec['task']}"
          f"{' (x8 ensemble)' if args.ensemble else ''}\n")
    print(f"| dataset | {level or '-'} | images | {ref_name} |{extra} ours PSNR/SSIM | "
          "paper PSNR/SSIM | ours - paper |")
    print("|---|---|---:|---:|" + "---:|" * len(methods) + "---:|---:|---:|")
    for r in rows:
        ours = "-" if r.get("psnr") is None else f"{f(r['psnr'])}/{f(r['ssim'], 4)}"
        paper_cell = "-" if r["paper_psnr"] is None else (
            f"{f(r['paper_psnr'])}/{f(r['paper_ssim'], 4)}")
        delta = "-" if r.get("psnr") is None or r["paper_psnr"] is None else (
            f"{r['psnr'] - r['paper_psnr']:+.2f}")
        cls = "".join(f" {f((r.get('classical') or {}).get(m))} |" for m in methods)
        images = r.get("images", "-" if r["found"] else "missing")
        print(f"| {r['dataset']} | {r['value'] if level else '-'} | {images} | "
              f"{f(r.get('reference_psnr'))} |{cls} {ours} | {paper_cell} | {delta} |")
    print(f"\nPaper numbers: {paper['provenance'].split('.')[0]}; see {PAPER_FILE.name}.")
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(json.dumps({"table": args.table, "rows": rows}, indent=2) + "\n")
        os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
