#!/usr/bin/env python
"""Train an RNAN variant: the same code and options as ``rnan train`` (see ``--help``)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from rnan_keras.cli import train as train_cli
from rnan_keras.errors import RNANError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="train.py", description=train_cli.DESCRIPTION, epilog=train_cli.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train_cli.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return train_cli.run(args)
    except RNANError as exc:
        print(f"train.py: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("train.py: interrupted (rerun the same command to resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
