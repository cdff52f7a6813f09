#!/usr/bin/env python
"""Are a model's attention masks alive? Saturation of every sigmoid mask, per preset.

Each residual attention module multiplies its trunk by a sigmoid mask (the non-local mask
branch of the first and last groups holds the non-local block). Where the mask's logits are
beyond float32's sigmoid range the mask is exactly 0 or 1: a fixed gate whose input (the
non-local attention included) cannot change the output, and whose weights get no gradient.
For each preset (or ``.keras`` file) this degrades the package's sample image the way the
model's task expects, runs the model, and reports per masked group the fraction of mask
values exactly 0, exactly 1 and inside (0.01, 0.99), and how much the output moves when the
non-local attention is cut to 8-pixel windows (0 when the masks hide it).

    python scripts/mask_saturation.py --out scripts/results/mask_saturation.json
    python scripts/mask_saturation.py --presets dn_gray_small --model runs/x/best.keras
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

#: The value of each degradation setting for the sample input (inside the presets' ranges);
#: SR tasks take the scale from their name, demosaicing has no setting.
SAMPLE_SETTING = {"sigma": 25.0, "quality": 20}


def sample_input(task: str, size: int = 96) -> np.ndarray:
    """The package's sample image, cropped to ``size`` and degraded for ``task`` (seed 0):
    ``(1, h, w, C)`` float32 0-255."""
    from rnan_keras.cli.demo import SAMPLE
    from rnan_keras.data.degradations import degrade, prepare_clean
    from rnan_keras.data.image_io import read_image
    from rnan_keras.tasks import get_task

    setting = get_task(task).setting
    image = read_image(str(SAMPLE))[:size, :size]
    clean = prepare_clean(task, image.astype("float32"))
    kwargs = {setting: SAMPLE_SETTING[setting]} if setting else {}
    x = degrade(task, clean[None], seed=0, **kwargs)
    return np.asarray(x, np.float32)


def mask_statistics(model, x: np.ndarray) -> dict[str, Any]:
    """Saturation of every attention module's sigmoid mask of ``model`` on input ``x``.

    Returns ``{"groups": {name: {"exact_0", "exact_1", "live"}}, "window_change"}``: the
    fractions of mask values exactly 0, exactly 1 and in (0.01, 0.99), and the largest
    absolute output change (0-255) when the non-local blocks attend within 8-pixel windows
    instead of the whole input.
    """
    import keras

    from rnan_keras.models.rnan import with_non_local_mode

    groups: dict[str, dict[str, float]] = {}
    for layer in model.layers:
        module = getattr(layer, "module", None)
        if module is None or getattr(module, "mask_branch", None) is None:
            continue
        h = keras.Model(model.inputs[0], layer.input)(x, training=False)
        for block in module.pre:
            h = block(h)
        m = np.asarray(module.mask_branch(h))
        groups[layer.name] = {
            "mask": module.mask,
            "exact_0": float(np.mean(m == 0.0)),
            "exact_1": float(np.mean(m == 1.0)),
            "live": float(np.mean((m > 0.01) & (m < 0.99))),
        }
    change = None
    cfg = getattr(model, "rnan_config", None)
    if cfg is not None and cfg.use_non_local:
        windowed = with_non_local_mode(model, window=8)
        change = float(np.abs(np.asarray(windowed(x, training=False))
                              - np.asarray(model(x, training=False))).max())
    return {"groups": groups, "window_change": change}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="*", default=None,
                        help="preset names (default: every shipped preset)")
    parser.add_argument("--model", default=None,
                        help="a .keras file to measure instead (with one --presets name for "
                             "its task)")
    parser.add_argument("--size", type=int, default=96, help="input crop side (pixels)")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)

    from rnan_keras.models.resolve import load_model_file
    from rnan_keras.presets.registry import list_presets, load_preset

    names = args.presets or list_presets()
    if args.model is not None and len(names) != 1:
        parser.error("--model needs exactly one --presets name (for the task)")
    results = {}
    for name in names:
        model = load_model_file(args.model) if args.model else load_preset(name)
        task = model.rnan_config.variant
        stats = mask_statistics(model, sample_input(task, args.size))
        results[args.model or name] = {"task": task, **stats}
        for group, s in stats["groups"].items():
            print(f"{args.model or name:>16} {group:>13} ({s['mask']:>9}): exactly 0 "
                  f"{s['exact_0']:.3f}, exactly 1 {s['exact_1']:.3f}, live {s['live']:.4f}")
        print(f"{'':>16} output change with 8-px attention windows: "
              f"{stats['window_change']} (0-255)")
    if args.out:
        with open(args.out, "w") as handle:
            json.dump({"input": f"package sample crop {args.size}px, degraded per task "
                                f"(seed 0, {SAMPLE_SETTING})", "results": results}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
