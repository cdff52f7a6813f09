"""Print the RNAN paper's Tables 1-8 with ours beside them, each run with its table's protocol.

The paper's numbers come from ``rnan_keras/metrics/paper_results.json`` (through
:mod:`rnan_keras.metrics.paper_results`), every table and every method.

- **Quality tables** (2 colour denoising, 3 gray denoising, 4 demosaicing, 5 JPEG artifact
  reduction, 6 super-resolution, and Table 8's five parts): one line per dataset and level
  with the paper's methods, then ours: the model run by
  :func:`rnan_keras.inference.evaluate.evaluate` with the table's task, level, channel and
  crop border, and the degraded input (or bicubic, for SR) that ``evaluate`` measures beside
  it. Ours is, by default, the shipped preset of each task; ``--model`` gives any model
  (a ``.keras`` file such as converted official weights, or a preset name), used wherever
  its variant is the table's task, or a template with ``{task}``, ``{sigma}``,
  ``{quality}``, ``{scale}`` fields (``'rnan_{task}_s{sigma}.keras'``) for one model per
  task and level as the paper trained them.
- **Table 1** (ablation) and **Table 7** (parameters, time): the paper's numbers and, for
  each RNAN configuration, the ``build_model`` options it maps to
  (:func:`rnan_keras.metrics.paper_results.build_options`) and the parameter count of that
  model (at ``--n-feats``, default 64 as in the paper). Table 7 also runs ours with its
  protocol (colour, Urban100, sigma 50) and gives our model's size and time per image.

A number of Table 8 whose place in the table had to be inferred from the scrambled text is
printed with a ``?``. Datasets are looked up under ``--data-root`` (default:
``$RNAN_SHARED_DIR/data/testsets`` or ``../shared/data/testsets``); missing ones are listed
and left empty. Evaluations are shared between tables (Table 2 and Table 8's colour part
run each image once).

Examples::

    python scripts/paper_tables.py --list                       # the paper's tables only
    python scripts/paper_tables.py --table 2 --levels 50 --max-images 4
    python scripts/paper_tables.py --table 6 --model rnan_sr_x4.keras --out t6.json
    python scripts/paper_tables.py --table 1 7 --n-feats 16      # sizes at the presets' width
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ALL_TABLES = list(range(1, 9))
LEVEL_SYMBOL = {"sigma": "σ", "quality": "q", "scale": "×", None: "-"}


def default_data_root() -> Path:
    shared = os.environ.get("RNAN_SHARED_DIR")
    base = Path(shared) if shared else REPO.parent / "shared"
    return base / "data" / "testsets"


def _f(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _cell(row: dict | None, metrics: list[str]) -> str:
    """``PSNR`` or ``PSNR / SSIM`` of a paper row, ``?`` after an inferred placement."""
    if row is None:
        return ""
    text = " / ".join(_f(row.get(m), 4 if m == "ssim" else 2) for m in metrics)
    return text + ("?" if row.get("placement") == "inferred" else "")


# ------------------------------------------------------------------------------- models


class Ours:
    """Resolves, caches and evaluates our models (one ``evaluate`` per distinct run)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.root = args.data_root or default_data_root()
        self._models: dict[str, Any] = {}
        self._runs: dict[tuple, dict] = {}

    def spec_for(self, task: str, level_name: str | None, level) -> str | None:
        """The model spec (file / preset) for a task and level, or None (no preset)."""
        if self.args.model is None:
            from rnan_keras.presets.registry import default_preset

            return default_preset(task)
        fields = {"task": task, "sigma": "", "quality": "", "scale": ""}
        if level_name:
            fields[level_name] = level
        return self.args.model.format(**fields)

    def model(self, spec: str):
        if spec not in self._models:
            from rnan_keras.models.resolve import resolve_model

            self._models[spec] = resolve_model(spec)
        return self._models[spec]

    def for_task(self, task: str, level_name: str | None, level) -> tuple[Any, str]:
        """``(model, label)``; model None with the reason as label when there is none."""
        from rnan_keras.errors import ConfigError, ModelLoadError

        spec = self.spec_for(task, level_name, level)
        if spec is None:
            return None, f"no shipped preset for {task}"
        try:
            model = self.model(spec)
        except (ConfigError, ModelLoadError) as exc:
            return None, str(exc)
        variant = getattr(getattr(model, "rnan_config", None), "variant", None)
        if variant is not None and variant != task:
            return None, f"{spec} is a {variant} model, not {task}"
        return model, getattr(model, "preset_name", None) or Path(spec).stem

    def folder(self, data_dir: str) -> Path | None:
        path = self.root / data_dir
        return path if path.is_dir() else None

    def evaluate(self, model, label: str, task: str, folder: Path, level_name, level,
                 dataset: str) -> dict:
        """Mean metrics of ``model`` on ``folder`` with the task's protocol (cached)."""
        key = (id(model), task, str(folder), level_name, level)
        if key not in self._runs:
            from rnan_keras.inference.evaluate import evaluate

            kwargs = {level_name: level} if level_name in ("sigma", "quality") else {}
            tile = self.args.tile if self.args.tile in ("auto", "none") else int(self.args.tile)
            print(f"  evaluating {label} on {dataset} ({task}"
                  f"{'' if not kwargs else f', {level_name} {level}'})...", file=sys.stderr)
            start = time.time()
            result, _ = evaluate(model, task, folder, seed=self.args.seed, tile=tile,
                                 ensemble=self.args.ensemble, max_images=self.args.max_images,
                                 progress=False, **kwargs)
            mean = result.mean()
            self._runs[key] = {
                "model": label, "images": len(result.images), "psnr": mean["psnr"],
                "ssim": mean["ssim"], "seconds_per_image": mean["seconds"],
                "reference_psnr": mean["baseline_psnr"], "reference_ssim": mean["baseline_ssim"],
                "ensemble": bool(self.args.ensemble), "wall_s": round(time.time() - start, 1),
            }
        return self._runs[key]


# ------------------------------------------------------------------------ quality tables


def quality_section(number: int, part: str | None, section: dict, args, ours: Ours | None,
                    ) -> tuple[list[str], list[dict]]:
    """Markdown lines and JSON rows of one quality table (or Table 8 part)."""
    from rnan_keras.metrics import paper_results as pr

    p = section["protocol"]
    level_name, metrics = p["level"], p["metrics"]
    levels = [v for v in (p["levels"] or [None])
              if v is None or not args.levels or float(v) in args.levels]
    datasets = [d for d in p["datasets"]
                if not args.datasets or d in args.datasets or p["data_dirs"][d] in args.datasets]
    reference = section.get("reference_method")
    methods = [m for m in section["methods"] if m != reference] + ([reference] if reference else [])
    rnan = section["rnan_method"]
    ref_name = "bicubic" if "task_per_level" in p else "input"
    level_text = (f"{level_name} {'/'.join(str(v) for v in p['levels'])}" if level_name
                  else "no level")
    lines = [f"## Table {number}{f', part {part}' if part else ''}: {section['caption']}", "",
             (f"Protocol: {p['task']}, {level_text}, measured on {p['measured_on']}, crop "
              f"border {p['crop_border']}; {'PSNR (dB) / SSIM' if 'ssim' in metrics else 'PSNR (dB)'}."),
             ""]
    header = ["set", LEVEL_SYMBOL[level_name], *methods]
    if ours is not None:
        header += ["ours", f"ours: {ref_name}", "ours − RNAN", "images"]
    lines += ["| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (len(header) - 2)]
    rows, notes, missing = [], [], []
    for dataset in datasets:
        folder = None if ours is None else ours.folder(p["data_dirs"][dataset])
        if ours is not None and folder is None:
            missing.append(dataset)
        for level in levels:
            task = pr.section_task(section, level)
            paper = {m: next(pr.rows(number, task=task, dataset=dataset, level=level, method=m),
                             None) for m in methods}
            cells = [dataset, "-" if level is None else str(level)]
            cells += [_cell(paper[m], metrics) for m in methods]
            run = delta = None
            if ours is not None:
                model, label = ours.for_task(task, level_name, level)
                if model is None and label not in notes:
                    notes.append(label)
                if model is not None and folder is not None:
                    run = ours.evaluate(model, label, task, folder, level_name, level, dataset)
                rnan_psnr = (paper.get(rnan) or {}).get("psnr")
                if run is not None and rnan_psnr is not None and run["psnr"] is not None:
                    delta = run["psnr"] - rnan_psnr
                cells += ["", "", "", ""] if run is None else [
                    _cell(run, metrics) + (" (x8)" if run["ensemble"] else ""),
                    _cell({"psnr": run["reference_psnr"], "ssim": run["reference_ssim"]},
                          metrics),
                    "" if delta is None else f"{delta:+.2f}", str(run["images"])]
            lines.append("| " + " | ".join(cells) + " |")
            rows.append({
                "table": number, "part": part, "task": task, "dataset": dataset,
                "data_dir": p["data_dirs"][dataset], "level_name": level_name, "level": level,
                "paper": {m: None if r is None else {k: r.get(k) for k in metrics}
                          for m, r in paper.items()},
                "paper_inferred": sorted(m for m, r in paper.items()
                                         if r and r.get("placement") == "inferred"),
                "ours": run, "ours_minus_rnan_psnr": delta,
                "data_found": None if ours is None else folder is not None,
            })
    lines.append("")
    if ours is not None:
        used = sorted({r["ours"]["model"] for r in rows if r["ours"]})
        lines.append(f"Ours: {', '.join(used) or 'not run'}"
                     + (f", first {args.max_images} image(s) per set" if args.max_images else "")
                     + ("; x8 self-ensemble" if args.ensemble else "") + ".")
        lines += [f"Ours not run: {note}." for note in notes]
        if missing:
            lines.append(f"Not found under {ours.root}: {', '.join(missing)}.")
    if any(r["paper_inferred"] for r in rows):
        lines.append("`?`: placement inferred from the scrambled text (see the JSON notes).")
    return lines, rows


# ------------------------------------------------------------------- Tables 1 and 7


def _param_count(options: dict, n_feats: int, cache: dict) -> int:
    """Parameters of ``build_model("dn_rgb", n_feats=n_feats, **options)`` (built once)."""
    import rnan_keras

    key = (n_feats, tuple(sorted(options.items())))
    if key not in cache:
        cache[key] = rnan_keras.build_model("dn_rgb", n_feats=n_feats, **options).count_params()
    return cache[key]


def _options_text(options: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in options.items())


def table1(args, counts: dict) -> tuple[list[str], list[dict]]:
    from rnan_keras.metrics import paper_results as pr

    entry = pr.table(1)
    p = entry["protocol"]
    lines = [f"## Table 1: {entry['caption']}", "",
             (f"Protocol: {p['task']}, sigma {p['levels'][0]}, {', '.join(p['datasets'])}, "
              f"PSNR (dB). Ours: the build_model options of each case and their parameter "
              f"count (dn_rgb, n_feats={args.n_feats}); the cases are separately trained "
              "models, so no PSNR of ours."), "",
             ("| case | mask branch | non-local | RAB | RNAB | paper PSNR | build_model options "
              "| our params |"), "|---:|---|---|---:|---:|---:|---|---:|"]
    rows = []
    for r in entry["rows"]:
        options = pr.build_options(r)
        count = None if args.list else _param_count(options, args.n_feats, counts)
        lines.append(
            f"| {r['case']} | {'yes' if r['mask_branch'] else 'no'} | "
            f"{'yes' if r['non_local_block'] else 'no'} | {r['rab']} | {r['rnab']} | "
            f"{_f(r['psnr'])} | {_options_text(options)} | "
            f"{'' if count is None else f'{count:,}'} |")
        rows.append({"table": 1, "paper": r, "build_model": options, "n_feats": args.n_feats,
                     "our_params": count})
    return lines, rows


def table7(args, counts: dict, ours: Ours | None) -> tuple[list[str], list[dict]]:
    from rnan_keras.metrics import paper_results as pr

    entry = pr.table(7)
    p = entry["protocol"]
    level = p["levels"][0]
    lines = [f"## Table 7: {entry['caption']}", "",
             (f"Protocol: {p['task']}, sigma {level}, {', '.join(p['datasets'])}, PSNR (dB). "
              f"Our params: the build_model options of each RNAN column (dn_rgb, "
              f"n_feats={args.n_feats})."), "",
             ("| method | paper params | paper PSNR | paper time (s) | build_model options | "
              "our params |"), "|---|---:|---:|---|---|---:|"]
    rows = []
    for r in entry["rows"]:
        options = pr.build_options(r) if "local_blocks" in r else None
        count = None if options is None or args.list else _param_count(
            options, args.n_feats, counts)
        name = r["method"] + ("*" if r["channel_wise"] else "")
        lines.append(
            f"| {name} | {r['params_k']:,} K | {_f(r['psnr'])} | {r['time_s']} ({r['platform']})"
            f" | {'' if options is None else _options_text(options)} | "
            f"{'' if count is None else f'{count:,}'} |")
        rows.append({"table": 7, "paper": r, "build_model": options, "n_feats": args.n_feats,
                     "our_params": count})
    if ours is not None:
        model, label = ours.for_task(p["task"], p["level"], level)
        if model is None:
            lines += ["", f"Ours not run: {label}."]
        else:
            dataset = p["datasets"][0]
            folder = ours.folder(p["data_dirs"][dataset])
            run = None if folder is None else ours.evaluate(
                model, label, p["task"], folder, p["level"], level, dataset)
            params = model.count_params()
            if run is None:
                lines += ["", (f"Ours ({label}, {params:,} parameters): {dataset} not found "
                               f"under {ours.root}.")]
            else:
                lines += ["", (f"Ours ({label}): {params:,} parameters, PSNR "
                               f"{_f(run['psnr'])} on {run['images']} image(s) of {dataset} "
                               f"(noisy input {_f(run['reference_psnr'])}), "
                               f"{run['seconds_per_image']:.2f} s per image on this machine.")]
            rows.append({"table": 7, "ours": run, "model": label, "our_params": params,
                         "dataset": dataset, "data_found": folder is not None})
    return lines, rows


# ---------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", type=int, nargs="+", choices=ALL_TABLES, default=ALL_TABLES,
                        help="tables to print (default: all)")
    parser.add_argument("--model", help="our model for every table of its task: .keras file "
                        "or preset name, or a template with {task} {sigma} {quality} {scale} "
                        "(default: the shipped preset of each task)")
    parser.add_argument("--levels", type=float, nargs="+",
                        help="only these sigma / quality / scale values")
    parser.add_argument("--datasets", nargs="+", help="only these sets (paper or folder names)")
    parser.add_argument("--max-images", type=int, help="first N images per set (quick runs)")
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--tile", default="auto", help="auto, none or a tile size")
    parser.add_argument("--ensemble", action="store_true", help="ours with x8 self-ensemble")
    parser.add_argument("--seed", type=int, default=0, help="degradation seed")
    parser.add_argument("--n-feats", type=int, default=64,
                        help="width of the Table 1 / 7 models whose parameters are counted")
    parser.add_argument("--list", action="store_true", help="the paper's numbers only")
    parser.add_argument("--out", type=Path, help="write every row as JSON")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from rnan_keras.data.image_io import atomic_write_bytes
    from rnan_keras.metrics import paper_results as pr

    ours = None if args.list else Ours(args)
    counts: dict = {}
    report: dict[str, Any] = {
        "paper": pr.load()["paper"], "paper_file": str(pr.PAPER_FILE.relative_to(REPO)),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "tables": {},
    }
    for number in sorted(set(args.table)):
        if number == 1:
            sections = [table1(args, counts)]
        elif number == 7:
            sections = [table7(args, counts, ours)]
        else:
            sections = [quality_section(number, part, section, args, ours)
                        for part, section in pr.sections(number)]
        if number == 8:
            entry = pr.table(8)
            print(f"# Table 8: {entry['caption']}\n")
        rows = []
        for lines, section_rows in sections:
            print("\n".join(lines) + "\n", flush=True)
            rows += section_rows
        report["tables"][str(number)] = rows
        if args.out:  # after every table, so a long run keeps what it has measured
            atomic_write_bytes(args.out, (json.dumps(report, indent=1) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
