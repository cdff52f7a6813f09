"""``rnan demo``: denoise the shipped sample image and write a before/after picture."""

from __future__ import annotations

import argparse
from pathlib import Path

from rnan_keras.cli._options import add_command

SAMPLE = Path(__file__).resolve().parents[1] / "assets" / "kodim23_crop.png"

DESCRIPTION = """\
Add Gaussian noise (sigma 25, fixed seed) to the shipped sample image (a 192x192 crop of
Kodak image 23), restore it with the colour-denoising preset and write noisy.png,
restored.png and before_after.png (noisy | restored | clean) to the output folder. Prints
the PSNR of the noisy and restored images.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "demo", run, "denoise a sample image with the colour-denoising preset",
                    DESCRIPTION)
    p.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder")
    p.add_argument("--sigma", type=float, default=25.0, help="noise level on 0-255 (25)")
    p.add_argument("--image", type=Path, default=SAMPLE, help="clean RGB image to use")
    p.add_argument("--preset", help="preset to use (default: the colour-denoising preset)")


def side_by_side(images: list, gap: int = 4):
    """Concatenate HxWx3 uint8 arrays left to right with a white gap."""
    import numpy as np

    h = max(im.shape[0] for im in images)
    parts = []
    for i, im in enumerate(images):
        pad = np.full((h, im.shape[1], 3), 255, np.uint8)
        pad[: im.shape[0]] = im
        parts.append(pad)
        if i < len(images) - 1:
            parts.append(np.full((h, gap, 3), 255, np.uint8))
    return np.concatenate(parts, axis=1)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    import rnan_keras
    from rnan_keras.data.degradations import add_gaussian_noise
    from rnan_keras.data.image_io import read_image, write_image
    from rnan_keras.metrics import psnr
    from rnan_keras.presets.registry import default_preset
    from rnan_keras.tasks import DEFAULT_TASK

    clean = read_image(args.image)[..., :3]
    noisy = np.asarray(add_gaussian_noise(clean.astype("float32"), args.sigma, seed=0))
    noisy8 = np.clip(np.round(noisy), 0, 255).astype(np.uint8)

    name = args.preset or default_preset(DEFAULT_TASK)
    if name is None:
        print(f"WARNING: no trained {DEFAULT_TASK} preset is shipped; using an UNTRAINED model "
              "(random weights): the output is not a real restoration.")
        model = rnan_keras.build_model(DEFAULT_TASK, n_feats=16, n_resgroups=2,
                                       zero_init_tail=True)
    else:
        model = rnan_keras.RNAN.from_preset(name)
        print(f"preset {name}: {model.preset_info['description']}")
    restored = rnan_keras.restore(noisy8, model)

    args.out.mkdir(parents=True, exist_ok=True)
    write_image(args.out / "noisy.png", noisy8)
    write_image(args.out / "restored.png", restored)
    write_image(args.out / "before_after.png", side_by_side([noisy8, restored, clean]))
    print(f"noisy    PSNR {psnr(noisy8, clean):6.2f} dB  (sigma {args.sigma:g})")
    print(f"restored PSNR {psnr(restored, clean):6.2f} dB")
    print(f"wrote {args.out / 'before_after.png'} (noisy | restored | clean)")
    return 0
