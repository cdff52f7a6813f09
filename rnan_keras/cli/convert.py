"""``rnan convert``: official PyTorch checkpoint -> Keras ``.keras`` model."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from rnan_keras.cli._options import add_command
from rnan_keras.models.config import VARIANTS

DESCRIPTION = """\
Read an official RNAN state_dict (a .pt file needs the torch extra: pip install
'rnan_keras[torch]'; an .npz of the same keys needs nothing), infer the configuration from
its keys and shapes, load every tensor and write a .keras model. --variant is needed only
where shapes cannot tell: dn_gray vs car (1 channel) and dn_rgb vs demosaic (3 channels).
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "convert", run, "convert an official PyTorch RNAN checkpoint "
                    "(.pt/.npz) to a .keras model", DESCRIPTION)
    p.add_argument("checkpoint", type=Path, help="official state_dict (.pt, .pth or .npz)")
    p.add_argument("output", type=Path, help="output model file (.keras)")
    p.add_argument("--variant", choices=sorted(VARIANTS), help="variant, when ambiguous")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")


def run(args: argparse.Namespace) -> int:
    from rnan_keras.convert.official import convert
    from rnan_keras.errors import ConfigError

    out: Path = args.output
    if out.suffix != ".keras":
        raise ConfigError(f"{out}: the output must end in .keras")
    if out.exists() and not args.force:
        raise ConfigError(f"{out} exists; pass --force to overwrite")
    model = convert(args.checkpoint, variant=args.variant)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".keras", dir=out.parent)
    os.close(fd)
    try:
        model.save(tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    cfg = model.rnan_config
    print(
        f"wrote {out}: {cfg.variant}, n_feats={cfg.n_feats}, n_resgroups={cfg.n_resgroups}, "
        f"{model.count_params():,} parameters"
    )
    return 0
