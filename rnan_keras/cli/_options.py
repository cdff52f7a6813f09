"""What several subcommands share: adding a subcommand, model source, degradation settings,
tiling options."""

from __future__ import annotations

import argparse
import sys

from rnan_keras.errors import ConfigError
from rnan_keras.inference.ensemble import VIEW_COUNTS
from rnan_keras.tasks import SETTINGS, tasks_with


def add_model_source(parser: argparse.ArgumentParser) -> None:
    """``--preset NAME`` or ``--model FILE`` (exactly one)."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--preset", metavar="NAME", help="a shipped preset (see 'rnan info')")
    source.add_argument("--model", metavar="FILE", help="a .keras model file")


def add_setting_arguments(parser: argparse.ArgumentParser, note: str = "") -> None:
    """``--sigma`` / ``--quality`` with the tasks that take them (from the task registry)."""
    for name, setting in SETTINGS.items():
        parser.add_argument(
            f"--{name}", type=int if setting.integer else float,
            help=f"{setting.help} ({', '.join(tasks_with(setting=name))}){note}",
        )


def parse_tile(text: str) -> int | str:
    """``auto``, ``none`` or an int, from a ``--tile`` value."""
    if text.lower() in ("auto", "none"):
        return text
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"--tile must be auto, none or a number, got {text!r}") from None


def open_model(args: argparse.Namespace, prog: str, label: str, *, used: bool = False):
    """The model of ``--model`` / ``--preset``; degradation settings checked, notes printed."""
    from rnan_keras.models.resolve import check_degradation_settings, resolve_model

    model = resolve_model(args.model or args.preset)
    for note in check_degradation_settings(model, sigma=args.sigma, quality=args.quality,
                                           used=used):
        print(f"{prog}: {label}: {note}", file=sys.stderr)  # once, not per image
    return model


def add_command(subparsers: argparse._SubParsersAction, name: str, run, help: str,
                description: str, **kwargs) -> argparse.ArgumentParser:
    """Add the subcommand ``name``, which runs ``run(args)``, and return its parser.

    ``kwargs`` go to ``add_parser`` (``epilog``, ``formatter_class``).
    """
    parser = subparsers.add_parser(name, help=help, description=description, **kwargs)
    parser.set_defaults(func=run)
    return parser


def add_tile_arguments(parser: argparse.ArgumentParser) -> None:
    """``--tile``, ``--overlap``, ``--max-memory``, ``--ensemble`` and ``--ensemble-views``
    (restore and eval)."""
    parser.add_argument(
        "--tile", default="auto", metavar="auto|N|none",
        help="tile size in input pixels; 'auto' (default) fits --max-memory; 'none' runs the "
        "whole image with exact chunked non-local attention (slow, needs more memory)",
    )
    parser.add_argument("--overlap", type=int, default=16, metavar="N",
                        help="overlap between tiles in input pixels (default 16)")
    parser.add_argument("--max-memory", metavar="SIZE",
                        help="peak memory target such as 4G or 512M (default: current use "
                        "plus half of the available RAM; 4G on a GPU)")
    parser.add_argument("--ensemble", action="store_const", const=8, default=1,
                        help="average the 8 flips/rotations (RNAN+; 8x slower)")
    parser.add_argument("--ensemble-views", type=int, choices=VIEW_COUNTS, dest="ensemble",
                        metavar="N", help="average N = 2 or 4 of them instead: most of the "
                        "gain of --ensemble in 2x / 4x the time (1: off)")
