"""``rnan train``: train or fine-tune an RNAN variant (also ``scripts/train.py``)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rnan_keras.errors import ConfigError
from rnan_keras.training.config import (
    DEGRADE_MODES,
    LOSSES,
    TASKS,
    TrainConfig,
    config_from_dict,
    load_config_file,
)

DESCRIPTION = """\
Train an RNAN variant with model.fit on random patches of a folder of clean images
(degraded on the fly for the task). Defaults follow the paper: Adam(0.9, 0.999, 1e-8),
lr 1e-4 halved every 2e5 steps, L2 loss, 48x48 patches, batch 16.

The run folder (--out) receives config.json, checkpoints/ (atomic, last 2 kept),
logs/train.csv, logs/tensorboard/, best.keras (best validation PSNR), model.keras and
summary.json. Rerunning the same command resumes from the newest good checkpoint with the
same optimizer state and learning rate (a corrupt newest checkpoint is skipped).
Ctrl-C or SIGTERM stops after the current step and writes the checkpoint, model and
summary ("status": "stopped"; exit code 130 / 143); a second one interrupts at once.
"""

EPILOG = """\
examples:
  rnan train dn_rgb --train-dir data/train/CBSD432 --val-dir data/testsets/Kodak24 \\
      --sigma 30 --n-feats 16 --n-resgroups 2 --steps 20000 --ckpt-every 500 \\
      --lr-decay-scale 0.05 --out runs/dn_rgb_small
  rnan train --config runs/dn_rgb_small/config.json          # same run, resumes
  rnan train sr_x2 --train-dir imgs --out runs/sr2 --init-official RNAN_SR_F64G10P48BIX2.pt
  rnan train dn_gray --train-dir imgs --out runs/mp --mixed-precision --strategy mirrored
"""


def _key_value(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.strip().replace("-", "_"), json.loads(value)
    except json.JSONDecodeError:
        return key.strip().replace("-", "_"), value


def _range(cast):
    """argparse type: ``25`` -> 25, ``0-75`` -> [0, 75]."""

    def parse(text: str):
        text = text.strip()
        lo, sep, hi = text[1:].partition("-")  # text[0] may be a sign
        try:
            return [cast(text[0] + lo), cast(hi)] if sep else cast(text)
        except (ValueError, IndexError):
            raise argparse.ArgumentTypeError(f"expected a number or LO-HI, got {text!r}") from None

    parse.__name__ = cast.__name__
    return parse


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train", help="train or fine-tune a model (resumable)", description=DESCRIPTION,
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    p.set_defaults(func=run)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = TrainConfig()
    p.add_argument("task", nargs="?", choices=TASKS, help="variant to train")
    p.add_argument("--config", metavar="FILE",
                   help="JSON file with the same keys (options given here win)")
    g = p.add_argument_group("data")
    g.add_argument("--train-dir", metavar="DIR", help="folder of clean training images")
    g.add_argument("--val-dir", metavar="DIR", help="folder of clean validation images")
    g.add_argument("--patch-size", type=int, metavar="N",
                   help=f"input (degraded) patch side; SR targets are scale x larger "
                   f"(default {d.patch_size})")
    g.add_argument("--batch-size", type=int, metavar="N",
                   help=f"global batch size (default {d.batch_size})")
    g.add_argument("--sigma", type=_range(float), metavar="S|LO-HI",
                   help="noise level for dn_* tasks, or a blind range drawn per patch (0-75)")
    g.add_argument("--quality", type=_range(int), metavar="Q|LO-HI",
                   help="JPEG quality for car, or a range drawn per patch (10-40)")
    g.add_argument("--saturation", type=_range(float), metavar="LO-HI",
                   help="colour tasks: scale each clean patch's saturation by a factor drawn "
                   "from LO-HI (e.g. 1-2 for colourful images); default off")
    g.add_argument("--seed", type=int, help=f"random seed (default {d.seed})")
    g = p.add_argument_group("model")
    g.add_argument("--n-feats", type=int, metavar="N", help="feature channels (paper 64)")
    g.add_argument("--n-resgroups", type=int, metavar="N", help="residual groups (paper 10)")
    g.add_argument("--model-arg", type=_key_value, action="append", metavar="KEY=VALUE",
                   help="any other build_model override (repeatable), e.g. chunk_size=512")
    g.add_argument("--init-preset", metavar="NAME", help="start from a shipped preset")
    g.add_argument("--init-model", metavar="FILE", help="start from a .keras model")
    g.add_argument("--init-official", metavar="FILE",
                   help="start from an official PyTorch checkpoint (.pt/.npz) via the converter")
    g.add_argument("--widen", action="store_true", default=None,
                   help="grow a narrower start point to --n-feats (other architecture "
                   "options from the start point) so that it computes the same function "
                   "(Net2WiderNet); scale-1 tasks")
    g = p.add_argument_group("optimisation")
    g.add_argument("--steps", type=int, metavar="N", help=f"total steps (default {d.steps})")
    g.add_argument("--lr", type=float, help=f"initial learning rate (default {d.lr:g})")
    g.add_argument("--lr-decay-steps", type=int, metavar="N",
                   help=f"halve the learning rate every N steps (default {d.lr_decay_steps})")
    g.add_argument("--lr-decay-scale", type=float, metavar="F",
                   help="multiply --lr-decay-steps by F for short runs (default 1)")
    g.add_argument("--loss", choices=LOSSES,
                   help="l2 (default, the paper's), l1, or psnr: mean per-image "
                   "10 log10(MSE), so a blind noise range's low-sigma patches count as much "
                   "as its noisy ones")
    g.add_argument("--mixed-precision", action="store_true", default=None,
                   help="mixed_float16 compute, float32 output, dynamic loss scaling")
    jit = g.add_mutually_exclusive_group()
    jit.add_argument("--jit", dest="jit_compile", action="store_const", const=True,
                     default=None, help="compile the train step with XLA (default: with a "
                     "GPU only; if XLA cannot compile the model, a warning and a plain graph)")
    jit.add_argument("--no-jit", dest="jit_compile", action="store_const", const=False,
                     help="never use XLA for the train step")
    g.add_argument("--degrade", choices=DEGRADE_MODES,
                   help="where batches are degraded: host (tf.data, CPU, libjpeg JPEG) or "
                   "device (inside the train step, on the model's device, tensor-ops JPEG); "
                   "default: device with a GPU, else host")
    g.add_argument("--strategy", choices=("default", "mirrored", "multi-worker"),
                   help="tf.distribute strategy (default: one device)")
    g = p.add_argument_group("checkpoints and logs")
    g.add_argument("--out", metavar="DIR", help="run folder (created; reused to resume)")
    g.add_argument("--ckpt-every", type=int, metavar="N",
                   help=f"checkpoint every N steps (default {d.ckpt_every})")
    g.add_argument("--keep-checkpoints", type=int, metavar="N",
                   help=f"checkpoints kept (default {d.keep_checkpoints})")
    g.add_argument("--val-every", type=int, metavar="N",
                   help="validate every N steps (default: --ckpt-every)")
    g.add_argument("--val-max-images", type=int, metavar="N",
                   help="validate on the first N images only")
    g.add_argument("--val-tile", type=int, metavar="PX",
                   help="validate in tiles of PX pixels (default 64 for images over 96x96)")
    g.add_argument("--log-every", type=int, metavar="N",
                   help=f"progress line / TensorBoard scalars every N steps (default {d.log_every})")
    g.add_argument("--no-tensorboard", dest="tensorboard", action="store_false", default=None,
                   help="do not write TensorBoard summaries")


_NOT_CONFIG = {"command", "func", "config", "n_feats", "n_resgroups", "model_arg"}


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Merge a config file (if any) with the options given on the command line."""
    data: dict[str, Any] = load_config_file(args.config) if args.config else {}
    data = {k.replace("-", "_"): v for k, v in data.items()}
    model = dict(data.get("model") or {})
    for key, value in vars(args).items():
        if key in _NOT_CONFIG or value is None:
            continue
        data[key] = value
    if args.n_feats is not None:
        model["n_feats"] = args.n_feats
    if args.n_resgroups is not None:
        model["n_resgroups"] = args.n_resgroups
    for key, value in args.model_arg or []:
        model[key] = value
    data["model"] = model
    if not data.get("task") and data.get("init_preset"):
        from rnan_keras.presets.registry import get_preset_info

        data["task"] = get_preset_info(data["init_preset"])["variant"]
    if not data.get("task"):
        raise ConfigError("give a task (e.g. 'rnan train dn_rgb ...') or a config file with 'task'")
    return config_from_dict(data).validate()


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    from rnan_keras.training.trainer import train

    summary = train(config)
    if summary.get("stopped_by"):  # a graceful stop: 128 + signal number, as the shell does
        import signal

        return 128 + signal.Signals[summary["stopped_by"]].value
    return 0
