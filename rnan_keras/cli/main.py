"""Entry point of the ``rnan`` command.

Each subcommand is a module of :mod:`rnan_keras.cli` exposing ``register(subparsers)``,
which adds its parser and sets ``func`` (a callable taking the parsed namespace and
returning an exit code). Errors derived from :class:`rnan_keras.errors.RNANError` are
printed as one line on stderr with exit code 2; Ctrl-C exits with 130. Warnings are printed
as one line each (``rnan COMMAND: warning: ...``), without Python source lines.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Sequence

from rnan_keras.errors import RNANError
from rnan_keras.version import __version__

# Order in which subcommands appear in ``rnan --help``.
SUBCOMMANDS: tuple[str, ...] = (
    "info",
    "demo",
    "convert",
    "degrade",
    "train",
    "restore",
    "eval",
    "export",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnan",
        description=(
            "RNAN image restoration (Zhang et al., ICLR 2019) in Keras 3: denoising, "
            "demosaicing, JPEG artifact reduction and super-resolution. Images are "
            "handled on the 0-255 scale; run 'rnan COMMAND --help' for details."
        ),
    )
    parser.add_argument("--version", action="version", version=f"rnan_keras {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        importlib.import_module(f"rnan_keras.cli.{name}").register(sub)
    return parser


def _one_line_warnings(command: str):
    """A ``warnings.showwarning`` printing ``rnan COMMAND: warning: message`` on one line."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        text = " ".join(str(message).split())
        print(f"rnan {command}: warning: {text}", file=file or sys.stderr)

    return show


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    import keras

    if keras.backend.backend() != "tensorflow":
        print(f"rnan {args.command}: error: the rnan commands run on Keras's TensorFlow "
              f"backend, not {keras.backend.backend()!r} (unset KERAS_BACKEND; "
              f"scripts/train_jax.py trains on JAX)", file=sys.stderr)
        return 2
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warnings(args.command)
            return int(args.func(args) or 0)
    except RNANError as exc:
        print(f"rnan {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rnan {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
