"""``rnan restore``: restore image files and folders with a model or preset.

Examples::

    rnan restore noisy.png -o clean.png --model dn_rgb.keras
    rnan restore photos/ scans/*.png -o restored/ --preset dn_rgb_sigma30 --tile auto
    rnan restore big.tif -o out/ --model sr_x4.keras --max-memory 4G --ensemble

Outputs are written atomically (temporary file, then rename), so an interrupted run leaves
each output either complete or absent. Existing outputs are never overwritten without
``--force``: for a single file that is an error, in folder mode the file is skipped (so a
run can be resumed). In folder mode a file that cannot be restored is reported on one line
and skipped; the exit code is then 1. The first Ctrl-C (or SIGTERM) stops after the
current image and reports how many were done (exit code 130); a second one aborts at once.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import warnings
from pathlib import Path

from rnan_keras.cli import _options
from rnan_keras.errors import ConfigError, ImageReadError, RNANError

OUTPUT_FORMATS = ("png", "tif", "bmp", "jpg", "webp", "same")


DESCRIPTION = """\
Restore images (denoising, demosaicing, JPEG artifact reduction or super-resolution,
depending on the model). Inputs may be files and folders (their images, sorted by name).
Large images are processed in overlapping tiles blended without seams; --tile auto picks
the tile size from --max-memory. Gray images given to a colour model are repeated to RGB
and colour images given to a gray denoiser are converted with Matlab rgb2gray (with a
warning); a car (JPEG) model restores the Y channel of colour images and keeps their
Cb/Cr; alpha channels are passed through (up-scaled for SR).
"""

EPILOG = """\
Exit codes: 0 all images restored (or skipped because the output exists), 1 some images
failed, 2 bad arguments / model, 130 interrupted.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = _options.add_command(
        subparsers, "restore", run,
        "restore image files or folders with a trained model or preset", DESCRIPTION,
        epilog=EPILOG,
    )
    parser.add_argument("inputs", nargs="+", metavar="IN", help="image files and/or folders")
    parser.add_argument(
        "-o", "--output", required=True, metavar="OUT",
        help="output folder, or an output file name when restoring one file",
    )
    _options.add_model_source(parser)
    _options.add_tile_arguments(parser)
    parser.add_argument("--device", choices=("cpu", "gpu"),
                        help="run on the CPU or the first GPU (default: TensorFlow's choice)")
    _options.add_setting_arguments(
        parser, note=" of the input. RNAN models are blind: it is checked against the task and "
        "the preset's trained range and does not change the result")
    parser.add_argument("--scale", type=int, help="SR scale, checked against the model")
    parser.add_argument("--format", default="png", choices=OUTPUT_FORMATS,
                        help="output file format (default png; 'same' keeps the input's)")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")
    parser.add_argument("--recursive", action="store_true", help="search folders recursively")
    parser.add_argument("--max-pixels", type=int, metavar="N",
                        help="refuse images with more pixels (default 100M or $RNAN_MAX_PIXELS)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def _output_name(src: Path, fmt: str) -> str:
    ext = src.suffix if fmt == "same" else "." + fmt
    return src.stem + ext


def plan_jobs(
    inputs: list[str], output: str, fmt: str, recursive: bool = False
) -> list[tuple[Path, Path]]:
    """(input file, output file) pairs; raises ConfigError on collisions or bad targets."""
    from rnan_keras.data.image_io import IMAGE_EXTENSIONS, list_images

    out = Path(output)
    sources: list[tuple[Path, Path]] = []  # (file, path relative to the output folder)
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for f in list_images(path, recursive=recursive):
                rel = f.relative_to(path)
                sources.append((f, rel.parent / _output_name(f, fmt)))
        elif path.exists() or path.suffix.lower() in IMAGE_EXTENSIONS:
            sources.append((path, Path(_output_name(path, fmt))))
        else:
            raise ImageReadError(f"{path}: no such file or folder")
    single_file = len(inputs) == 1 and not Path(inputs[0]).is_dir()
    if single_file and out.suffix.lower() in IMAGE_EXTENSIONS and not out.is_dir():
        return [(sources[0][0], out)]
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder (several outputs need a folder)")
    jobs = [(src, out / rel) for src, rel in sources]
    seen: dict[Path, Path] = {}
    for src, dst in jobs:
        if dst in seen:
            raise ConfigError(
                f"{seen[dst]} and {src} would both be written to {dst}; restore them into "
                "different output folders"
            )
        seen[dst] = src
    return jobs


class _StopFlag:
    """First SIGINT / SIGTERM sets the flag; the second restores the default and re-raises."""

    def __init__(self) -> None:
        self.stop = False
        self._old: dict[int, object] = {}

    def _handler(self, signum, frame):
        if self.stop:
            self.restore()
            raise KeyboardInterrupt
        self.stop = True
        print(
            "\nrnan restore: stopping after the current image (press Ctrl-C again to abort)",
            file=sys.stderr,
        )

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handler)
            except (ValueError, OSError):  # not the main thread
                pass

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()


def _select_device(device: str | None) -> None:
    if device == "cpu" and "tensorflow" not in sys.modules:
        os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
    if device == "gpu":
        import tensorflow as tf

        if not tf.config.list_physical_devices("GPU"):
            raise ConfigError("--device gpu: TensorFlow sees no GPU on this machine")


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    jobs = plan_jobs(args.inputs, args.output, args.format, args.recursive)
    if not jobs:
        raise ImageReadError("no images found in " + ", ".join(args.inputs))
    single = len(jobs) == 1 and not Path(args.inputs[0]).is_dir() and len(args.inputs) == 1
    if single and jobs[0][1].exists() and not args.force:
        raise ConfigError(f"{jobs[0][1]}: already exists (use --force to overwrite)")
    tile = _options.parse_tile(args.tile)

    _select_device(args.device)
    from rnan_keras.inference.restore import restore

    model = _options.open_model(args, "rnan restore", "note")
    show = None if not args.quiet else False
    done = failed = skipped = 0
    stop = _StopFlag()
    stop.install()
    start = time.time()
    try:
        bar = tqdm(jobs, desc="images", unit="img", disable=True if args.quiet else None)
        for src, dst in bar:
            if stop.stop:
                break
            if dst.exists() and not args.force:
                skipped += 1
                tqdm.write(f"rnan restore: {dst} exists, skipped (use --force)", file=sys.stderr)
                continue
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", UserWarning)
                    restore(
                        src, model, scale=args.scale,
                        tile=tile, ensemble=args.ensemble, overlap=args.overlap,
                        max_memory=args.max_memory, progress=show, max_pixels=args.max_pixels,
                        output=dst, device=args.device,
                    )
                for w in caught:  # one line each, naming the image
                    if not issubclass(w.category, DeprecationWarning | PendingDeprecationWarning
                                      | FutureWarning):
                        tqdm.write(f"rnan restore: warning: {src}: {w.message}", file=sys.stderr)
                done += 1
            except RNANError as exc:
                if single:
                    raise
                failed += 1
                tqdm.write(f"rnan restore: error: {exc}", file=sys.stderr)
            except Exception as exc:  # noqa: BLE001 - report, skip, keep going
                failed += 1
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                tqdm.write(f"rnan restore: error: {src}: {type(exc).__name__}: {first}",
                           file=sys.stderr)
                if single:
                    return 1
    finally:
        stop.restore()
    elapsed = time.time() - start
    summary = f"restored {done} of {len(jobs)} images in {elapsed:.1f}s"
    if skipped:
        summary += f", {skipped} skipped (output exists)"
    if failed:
        summary += f", {failed} failed"
    if stop.stop:
        summary = f"interrupted: {summary}"
    if not (single and done == 1 and args.quiet):
        print(f"rnan restore: {summary}", file=sys.stderr)
    if stop.stop:
        return 130
    return 1 if failed else 0
