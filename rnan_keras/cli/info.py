"""``rnan info``: versions, presets, devices."""

from __future__ import annotations

import argparse
import platform

from rnan_keras.cli._options import add_command


def register(sub: argparse._SubParsersAction) -> None:
    add_command(sub, "info", run, "show versions, shipped presets and available devices",
                "Print package and library versions, the shipped presets (task, size, "
                "validation PSNR) and the devices TensorFlow can see.")


def run(args: argparse.Namespace) -> int:
    import keras
    import numpy as np
    import tensorflow as tf

    from rnan_keras.models.config import VARIANTS
    from rnan_keras.presets.registry import get_preset_info, list_presets
    from rnan_keras.version import __version__

    print(f"rnan_keras  {__version__}")
    print(f"python      {platform.python_version()}")
    print(f"tensorflow  {tf.__version__}")
    print(f"keras       {keras.__version__} (backend {keras.backend.backend()})")
    print(f"numpy       {np.__version__}")
    print("\nvariants:")
    for name, spec in VARIANTS.items():
        print(f"  {name:9s} {spec.description}")
    names = list_presets()
    print(f"\npresets ({len(names)}):")
    for name in names:
        info = get_preset_info(name)
        val = info.get("training", {}).get("best_val_psnr")
        val_s = f", val PSNR {val:.2f} dB" if isinstance(val, int | float) else ""
        print(f"  {name:16s} {info['variant']:9s} {info['param_count']:,} params{val_s}")
    print("\ndevices:")
    for dev in tf.config.list_physical_devices():
        print(f"  {dev.device_type:4s} {dev.name}")
    return 0
