"""``rnan eval``: measure a model on a benchmark folder with the paper's protocol.

Examples::

    rnan eval --task dn_rgb --sigma 50 --data shared/data/testsets/Kodak24 --model m.keras
    rnan eval --task sr_x4 --data Set5/HR --degraded Set5/LR_bicubic/X4 --preset sr_x4
    rnan eval --task car --quality 10 --data Classic5 --preset car_q10 --ensemble

Writes ``results.json`` (settings, per-image and mean PSNR/SSIM), ``results.md`` (the same
as a Markdown table) and ``grid.png`` (degraded / restored / clean with zoomed centre crops
for the first ``--grid`` images) into ``--out``, each atomically.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnan_keras.cli import _options
from rnan_keras.errors import ConfigError
from rnan_keras.tasks import TASKS, get_task, task_help

DESCRIPTION = """\
Degrade every clean image of --data with the fixed-seed protocol of the task or read the
degraded inputs from --degraded, restore them, and measure PSNR/SSIM on the quantised
results, on the task's channels with its border cropped. SSIM uses the 11x11 Gaussian
window (sigma 1.5) on 0-255 data, like Matlab/BasicSR. Tasks: {tasks}.
"""

EPILOG = """\
Exit codes: 0 done, 1 done but some files could not be read (each reported and left out of
the mean), 2 bad arguments, data or model, 130 interrupted.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = _options.add_command(
        subparsers, "eval", run,
        "evaluate a model on a benchmark folder (PSNR/SSIM, paper protocol)",
        DESCRIPTION.format(tasks=task_help(measure=True)), epilog=EPILOG,
    )
    parser.add_argument("--task", required=True, choices=TASKS, help="what the model restores")
    parser.add_argument("--data", required=True, metavar="DIR", help="folder of clean images")
    _options.add_model_source(parser)
    _options.add_setting_arguments(parser)
    parser.add_argument("--degraded", metavar="DIR",
                        help="read degraded inputs from this folder (matched by file name, or "
                        "<name>x<scale> for SR) instead of synthesising them")
    parser.add_argument("--seed", type=int, default=0, help="degradation seed (default 0)")
    _options.add_tile_arguments(parser)
    parser.add_argument("--max-images", type=int, metavar="N", help="only the first N images")
    parser.add_argument("--grid", type=int, default=3, metavar="N",
                        help="images in the comparison grid (default 3; 0 for none)")
    parser.add_argument("--out", metavar="DIR",
                        help="report folder (default eval_<task>[_<level>])")
    parser.add_argument("--warmup", action="store_true",
                        help="restore the first image once, untimed, before timing, so that "
                        "graph tracing is not counted in its seconds (one image's extra work)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def _default_out(args: argparse.Namespace) -> Path:
    level = ""
    if args.sigma is not None:
        level = f"_sigma{args.sigma:g}"
    elif args.quality is not None:
        level = f"_q{args.quality}"
    return Path(f"eval_{args.task}{level}")


def run(args: argparse.Namespace) -> int:
    from rnan_keras.inference.evaluate import evaluate, write_report

    missing = get_task(args.task).missing_setting(sigma=args.sigma, quality=args.quality)
    if missing and args.degraded is None:
        raise ConfigError(f"--task {args.task} needs --{missing} (or --degraded)")
    if not Path(args.data).is_dir():
        raise ConfigError(f"--data {args.data}: not a folder")
    tile = _options.parse_tile(args.tile)
    model = _options.open_model(args, "rnan eval", "warning", used=True)
    cfg = getattr(model, "rnan_config", None)
    if cfg is not None and cfg.variant != args.task:
        raise ConfigError(f"the model is a {cfg.variant!r} model, not {args.task!r}")

    def report(record) -> None:
        if not args.quiet:
            ssim = "-" if record.ssim is None else f"{record.ssim:.4f}"
            print(f"{record.name}: PSNR {record.psnr:.2f} dB, SSIM {ssim} "
                  f"(input {record.baseline_psnr:.2f} dB), {record.seconds:.1f}s",
                  file=sys.stderr)

    result, kept = evaluate(
        model, args.task, args.data, sigma=args.sigma, quality=args.quality,
        degraded_dir=args.degraded, seed=args.seed, tile=tile, overlap=args.overlap,
        ensemble=args.ensemble, max_memory=args.max_memory, max_images=args.max_images,
        keep=max(args.grid, 0), progress=False if args.quiet else None, on_image=report,
        warmup=args.warmup,
    )
    if not result.images:
        raise ConfigError(f"no readable images in {args.data}")
    paths = write_report(result, args.out or _default_out(args), kept)
    print(result.to_markdown())
    if not args.quiet:
        print("wrote " + ", ".join(str(p) for p in paths.values()), file=sys.stderr)
    skipped = result.settings.get("skipped") or []
    if skipped:  # each was reported on its own line as it was skipped
        print(f"rnan eval: {len(skipped)} unreadable file(s) skipped; the mean covers "
              f"{len(result.images)} image(s)", file=sys.stderr)
        return 1
    return 0
