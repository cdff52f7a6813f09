"""``rnan export``: write a SavedModel, TFLite or ONNX export, verified against Keras."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import threading
from collections.abc import Iterator

DESCRIPTION = """\
Export a model (a shipped preset or a .keras file) to SavedModel, TFLite or ONNX. The
export has one signature, serving_default: input 'image' NHWC float32 on 0-255 (uint8
with --uint8) with dynamic batch, height and width; output 'output', the same layout,
scale x larger for SR. Odd sizes are handled in the graph, and the network runs on
overlapping --tile x --tile windows so memory stays bounded on large images.

Before anything is written the export is run in its own runtime (TensorFlow, LiteRT,
onnxruntime) on crops of a real image and compared with the Keras model; if the maximum
difference exceeds the tolerance (1e-2 on 0-255 for float32) nothing is written. The file
is then placed atomically, with PATH.manifest.json beside it (variant, config, signature,
versions, parity figures, sha256).
"""

EPILOG = """\
examples:
  rnan export --preset dn_rgb_small --format onnx -o exports/dn_rgb_small.onnx
  rnan export --model runs/dn/best.keras --format tflite --quantization float16 -o dn.tflite
  rnan export --model sr.keras --format savedmodel --uint8 -o exports/sr_x2_savedmodel
"""


def _size(text: str) -> tuple[int, int]:
    h, sep, w = text.lower().partition("x")
    try:
        size = (int(h), int(w)) if sep else (int(h), int(h))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW, e.g. 17x23, got {text!r}") from None
    if min(size) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive, got {text!r}")
    return size


def _tile(text: str) -> int | None:
    if text.lower() in ("none", "0", "off"):
        return None
    return int(text)


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from rnan_keras.cli._options import add_command, add_model_source
    from rnan_keras.export.formats import FORMATS

    p = add_command(subparsers, "export", run,
                    "export to SavedModel / TFLite / ONNX (verified against Keras)", DESCRIPTION,
                    epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_source(p)
    p.add_argument("--format", required=True, choices=FORMATS, help="export format")
    p.add_argument("-o", "--output", required=True, metavar="PATH",
                   help="output file (.tflite / .onnx) or directory (SavedModel)")
    p.add_argument("--quantization", default="float32",
                   choices=("float32", "float16", "dynamic_int8"),
                   help="TFLite weights: float32 (default), float16, or dynamic-range int8")
    p.add_argument("--uint8", action="store_true",
                   help="uint8 input and output (rounded and clipped in the graph)")
    p.add_argument("--tile", type=_tile, default=96, metavar="N",
                   help="tile side in input pixels, even (default 96); 'none' runs whole "
                   "images (non-local memory then grows as (H*W)^2)")
    p.add_argument("--overlap", type=int, default=16, metavar="N",
                   help="pixels shared by neighbouring tiles, even (default 16)")
    p.add_argument("--opset", type=int, default=17, choices=(17, 18), help="ONNX opset")
    p.add_argument("--image", metavar="FILE",
                   help="real image to cut the verification probes from (default: a "
                   "packaged test photograph)")
    p.add_argument("--probe-size", type=_size, action="append", metavar="HxW",
                   help="probe input size (repeatable; default: two odd sizes, one within "
                   "a tile and one spanning several)")
    p.add_argument("--tolerance", type=float, default=None,
                   help="max |export - keras| on 0-255 (default 1e-2 for float32, 1 with "
                   "--uint8, none for float16/int8: figures are reported)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    return p


def _load_source(args: argparse.Namespace):
    if args.model:
        return args.model
    from rnan_keras.models.resolve import resolve_model

    return resolve_model(args.preset, cache=False)


def _fmt(value) -> str:
    if isinstance(value, str):
        return value
    return "inf" if math.isinf(value) else f"{value:.3g}"


#: Seconds between re-checks of a SIGTERM that arrived during an import.
IMPORT_RETRY_S = 0.05


def _importing(frame) -> bool:
    """True when ``frame`` or a caller runs inside Python's import machinery."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib._bootstrap"):
            return True
        frame = frame.f_back
    return False


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt so the staging folder is cleaned up on kill.

    The interrupt is never raised inside an import: an exception thrown while a C
    extension initialises can abort the whole process (SIGABRT, no cleanup, staging folder
    left behind). A SIGTERM that lands there is re-sent to this process every
    ``IMPORT_RETRY_S`` seconds until it arrives outside the import. An interrupt that lands
    inside a converter may still come out as another error (wrapped in ``ExportError``); if
    a signal was received, any error leaving the block is reported as the interrupt.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    lock = threading.Lock()
    active = [True]

    def resend() -> None:
        with lock:
            if active[0]:
                os.kill(os.getpid(), signal.SIGTERM)

    def handler(signum, frame) -> None:
        if not active[0]:
            return
        received.append(signum)
        if _importing(frame):
            timer = threading.Timer(IMPORT_RETRY_S, resend)
            timer.daemon = True
            timer.start()
            return
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    except Exception:
        if received:
            raise KeyboardInterrupt from None
        raise
    finally:
        with lock:
            active[0] = False
        signal.signal(signal.SIGTERM, old)


def run(args: argparse.Namespace) -> int:
    with sigterm_as_interrupt():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from rnan_keras.export.exporter import export

    result = export(
        _load_source(args),
        args.output,
        args.format,
        quantization=args.quantization,
        uint8=args.uint8,
        tile=args.tile,
        overlap=args.overlap,
        opset=args.opset,
        reference_image=args.image,
        probe_sizes=args.probe_size,
        tolerance=args.tolerance,
        overwrite=args.overwrite,
    )
    if args.json:
        print(json.dumps(result.manifest, indent=2))
        return 0
    m = result.manifest
    print(f"wrote {result.path} ({m['format']}, {m['quantization']}) and "
          f"{result.manifest_path.name}")
    print(f"parity vs Keras on {m['parity']['reference_image']}:")
    for probe in m["parity"]["probes"]:
        h, w = probe["input_shape"][1:3]
        print(f"  {h}x{w}: max |diff| {_fmt(probe['max_abs_diff'])}, "
              f"PSNR vs clean {_fmt(probe['psnr_export_db'])} dB "
              f"(change {_fmt(probe['psnr_change_db'])} dB)")
    return 0
