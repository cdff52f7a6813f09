"""``rnan degrade``: write a degraded copy of an image (to prepare test sets).

Example::

    rnan degrade --task dn_rgb --sigma 50 clean.png noisy.png
    rnan degrade --task car --quality 10 --clean-out y.png photo.png y_q10.png
    rnan degrade --task sr_x4 hr.png lr.png
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

from rnan_keras.cli._options import add_command, add_setting_arguments
from rnan_keras.errors import ConfigError, ImageReadError
from rnan_keras.tasks import TASKS, get_task, task_help

DESCRIPTION = """\
Degrade a clean image the way the models' training data is degraded and write it. Gray
tasks convert colour input with Matlab rgb2gray (denoising) or take the Y channel of Matlab
rgb2ycbcr (JPEG). Image files store 8-bit values, so noisy output is rounded and clipped to
0-255 when written as PNG/BMP/TIFF; write a .npy file to keep the exact float32 values
(H x W x C, 0-255 scale).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "degrade", run,
        "write a degraded image (noise, mosaic, JPEG or bicubic down-scaling)", DESCRIPTION,
        epilog=task_help(),
    )
    parser.add_argument("input", help="clean input image (PNG, JPEG, BMP, TIFF)")
    parser.add_argument("output", help="degraded output (.png, .bmp, .tif or .npy)")
    parser.add_argument("--task", required=True,
                        choices=TASKS,
                        help="which degradation (model variant)")
    add_setting_arguments(parser)
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument("--pattern", default="GRBG", choices=("GRBG", "RGGB", "BGGR", "GBRG"),
                        help="Bayer pattern for demosaic (default GRBG, the RNAN protocol)")
    parser.add_argument("--clean-out", metavar="PATH",
                        help="also write the matching clean target (gray / Y / cropped HR)")


def _write(path: Path, array: np.ndarray) -> None:
    """Write atomically: a temporary file in the same folder, then ``os.replace``."""
    from PIL import Image

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        fmt = None
    else:
        fmt = Image.registered_extensions().get(suffix)
        if fmt is None or suffix in (".jpg", ".jpeg"):
            raise ConfigError(
                f"unsupported output format {path.suffix!r}: use .png, .bmp, .tif or .npy "
                "(JPEG would add its own compression)"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            if fmt is None:
                np.save(fh, array.astype(np.float32))
            else:
                pixels = np.floor(np.clip(array, 0, 255) + 0.5).astype(np.uint8)
                img = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
                img.save(fh, format=fmt)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def run(args: argparse.Namespace) -> int:
    import tensorflow as tf

    from rnan_keras.data.degradations import degrade, prepare_clean
    from rnan_keras.data.image_io import load_rgb

    info = get_task(args.task)
    missing = info.missing_setting(sigma=args.sigma, quality=args.quality)
    if missing:
        raise ConfigError(f"--task {args.task} needs --{missing}")
    try:
        rgb, was_gray = load_rgb(args.input)
    except ImageReadError:
        raise
    except Exception as exc:  # any decoder failure is reported as a read error
        raise ImageReadError(f"cannot read {args.input}: {exc}") from exc
    x = tf.constant(rgb, tf.float32)
    clean = x[..., :1] if (was_gray and info.n_colors == 1) else prepare_clean(args.task, x)
    s = info.scale
    h, w = int(clean.shape[0]), int(clean.shape[1])
    if min(h, w) < s:
        raise ImageReadError(f"{args.input} ({w}x{h}) is too small for x{s} down-scaling")
    clean = clean[: h - h % s, : w - w % s]
    out = degrade(args.task, clean[None], sigma=args.sigma, quality=args.quality,
                  seed=args.seed, pattern=args.pattern)[0]
    _write(Path(args.output), out.numpy())
    if args.clean_out:
        _write(Path(args.clean_out), clean.numpy())
    print(f"wrote {args.output} ({out.shape[1]}x{out.shape[0]}x{out.shape[2]}, {args.task})")
    return 0
