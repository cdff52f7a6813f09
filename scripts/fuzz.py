"""Fuzz the file-loading entry points: only documented exceptions may escape.

Seeded random mutations of small valid files are fed to

- ``png`` / ``jpeg``: :func:`rnan_keras.data.image_io.read_image`;
- ``npz``: :func:`rnan_keras.convert.official.load_state_dict`, then ``infer_config`` and
  ``load_official_weights`` into a prebuilt tiny RNAN (what ``convert`` does, without
  rebuilding the model every time);
- ``keras``: :func:`rnan_keras.inference.restore.load_model_file` (``safe_mode=True``).

Mutations: bit flips, bytes set to boundary values, truncation, insertion / deletion /
duplication of byte runs, and format-aware header changes (PNG IHDR size / depth / colour
type with a valid CRC, JPEG SOF size, zip members rewritten with valid CRCs: npz arrays with
new keys / shapes / dtypes, ``.keras`` config.json values changed). Each input has an outcome:
``ok`` (loaded; the result is checked: an ``(H, W, C)`` uint8/uint16 array within the pixel
limit, a state_dict of float32 arrays, a keras.Model), ``error:<Class>`` for a subclass of
:class:`rnan_keras.errors.RNANError` (documented), or a failure: ``CRASH:<Class>`` (any other
exception), ``BAD_OUTPUT`` or ``TIMEOUT`` (``--timeout`` seconds per input). Input ``i`` of a
run depends only on ``--seed`` and ``i``, so a failure can be replayed with ``--only i``.

Usage::

    python scripts/fuzz.py --iterations 20000 --seconds 600 --save-failures fuzz_failures/
    python scripts/fuzz.py --targets png --seed 3 --only 1234   # replay one input

Prints counts per target and outcome; exits 1 if any failure was found. ``atheris``
(coverage-guided, optional: ``pip install atheris``) can drive the same checks with
``--engine atheris``.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import io
import json
import os
import shutil
import signal
import struct
import sys
import tempfile
import time
import warnings
import zipfile
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np

TARGETS = ("png", "jpeg", "npz", "keras")
#: Default share of the iterations per target (``keras`` loads are the slowest).
WEIGHTS = {"png": 0.38, "jpeg": 0.32, "npz": 0.24, "keras": 0.06}
#: Pixel limit used while fuzzing: mutated headers declaring big images are refused (or
#: decoded) quickly. The limit check itself is exercised the same at any value.
FUZZ_MAX_PIXELS = 4_000_000
FAILURE_PREFIXES = ("CRASH", "BAD_OUTPUT", "TIMEOUT")


# --------------------------------------------------------------------------- seeds


def _png(array: np.ndarray, **options) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", **options)
    return buffer.getvalue()


def _jpeg(array: np.ndarray, **options) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", **options)
    return buffer.getvalue()


def make_seeds(workdir: Path) -> dict[str, list[bytes]]:
    """Small valid inputs per target (several variants each); the tiny model is built once."""
    from PIL import Image

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    gray16 = rng.integers(0, 65536, (9, 7), dtype=np.uint16)
    palette = Image.fromarray(rgb).quantize(colors=6)
    pal_buffer = io.BytesIO()
    palette.save(pal_buffer, format="PNG", transparency=0)
    import tensorflow as tf

    png = [
        _png(rgb),
        _png(rgb[:, :, 0]),
        _png(gray16),
        tf.io.encode_png(rgb.astype(np.uint16) * 257).numpy(),
        pal_buffer.getvalue(),
        _png(np.dstack([rgb, rgb[:, :, :1]])),
    ]
    exif_image = Image.fromarray(rgb)
    exif = exif_image.getexif()
    exif[0x0112] = 6
    exif_buffer = io.BytesIO()
    exif_image.save(exif_buffer, format="JPEG", exif=exif.tobytes())
    cmyk_buffer = io.BytesIO()
    Image.fromarray(rgb).convert("CMYK").save(cmyk_buffer, format="JPEG")
    jpeg = [
        _jpeg(rgb, quality=90),
        _jpeg(rgb[:, :, 0], quality=50),
        _jpeg(rgb, quality=75, progressive=True),
        exif_buffer.getvalue(),
        cmyk_buffer.getvalue(),
    ]
    model = tiny_model()
    from rnan_keras.convert.official import to_official_state_dict

    buffer = io.BytesIO()
    np.savez(buffer, **to_official_state_dict(model))
    npz = [buffer.getvalue()]
    path = workdir / "seed.keras"
    model.save(path)
    keras_files = [path.read_bytes()]
    return {"png": png, "jpeg": jpeg, "npz": npz, "keras": keras_files}


_TINY = None


def tiny_model():
    """The tiny colour denoiser (dn_rgb, 8 features, 2 groups), built once per process."""
    global _TINY
    if _TINY is None:
        import keras

        from rnan_keras import build_model

        keras.utils.set_random_seed(0)
        _TINY = build_model("dn_rgb", n_feats=8, n_resgroups=2)
    return _TINY


# --------------------------------------------------------------------------- mutations

_INTERESTING = (0, 1, 0x7F, 0x80, 0xFF)
_SIZES = (0, 1, 2, 3, 7, 255, 256, 4095, 65535, 65536, 50_000, 2**31 - 1, 2**32 - 1)


def _crc_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(
        ">I", zlib.crc32(kind + payload))


def _png_header_change(data: bytes, rng: np.random.Generator) -> bytes:
    if len(data) < 33 or data[12:16] != b"IHDR":
        return _bit_flip(data, rng)
    width, height, depth, ctype, comp, filt, lace = struct.unpack(">IIBBBBB", data[16:29])
    field_ = rng.integers(0, 5)
    if field_ == 0:
        width = int(rng.choice(_SIZES))
    elif field_ == 1:
        height = int(rng.choice(_SIZES))
    elif field_ == 2:
        depth = int(rng.choice((1, 2, 4, 8, 16, 0, 3, 32)))
    elif field_ == 3:
        ctype = int(rng.choice((0, 2, 3, 4, 6, 1, 5, 7)))
    else:
        lace = int(rng.choice((0, 1, 2)))
    ihdr = struct.pack(">IIBBBBB", width % 2**32, height % 2**32, depth, ctype, comp, filt, lace)
    return data[:8] + _crc_chunk(b"IHDR", ihdr) + data[33:]


def _png_chunk_fix(data: bytes, rng: np.random.Generator) -> bytes:
    """Flip bytes inside one chunk's payload and recompute its CRC (passes CRC checks)."""
    chunks, at = [], 8
    while at + 12 <= len(data):
        length = struct.unpack(">I", data[at:at + 4])[0]
        if at + 12 + length > len(data):
            break
        chunks.append((at, length))
        at += 12 + length
    if not chunks:
        return _bit_flip(data, rng)
    at, length = chunks[int(rng.integers(0, len(chunks)))]
    kind = data[at + 4:at + 8]
    payload = bytearray(data[at + 8:at + 8 + length])
    if kind == b"IDAT" and rng.random() < 0.5:  # valid zlib stream of other pixels
        try:
            raw = bytearray(zlib.decompress(bytes(payload)))
            for _ in range(int(rng.integers(1, 8))):
                if raw:
                    raw[int(rng.integers(0, len(raw)))] = int(rng.integers(0, 256))
            if rng.random() < 0.3:
                raw = raw[: int(rng.integers(0, len(raw) + 1))]
            payload = bytearray(zlib.compress(bytes(raw)))
        except zlib.error:
            pass
    elif payload:
        for _ in range(int(rng.integers(1, 4))):
            payload[int(rng.integers(0, len(payload)))] = int(rng.integers(0, 256))
    return data[:at] + _crc_chunk(kind, bytes(payload)) + data[at + 12 + length:]


def _jpeg_header_change(data: bytes, rng: np.random.Generator) -> bytes:
    out = bytearray(data)
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        at = out.find(marker)
        if at >= 0 and at + 9 <= len(out):
            which = rng.integers(0, 3)
            if which == 0:
                out[at + 5:at + 7] = struct.pack(">H", int(rng.choice(_SIZES)) % 65536)
            elif which == 1:
                out[at + 7:at + 9] = struct.pack(">H", int(rng.choice(_SIZES)) % 65536)
            else:
                out[at + 9] = int(rng.choice((0, 1, 2, 3, 4, 255)))  # components
            return bytes(out)
    return _bit_flip(data, rng)


def _bit_flip(data: bytes, rng: np.random.Generator) -> bytes:
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 9))):
        if out:
            at = int(rng.integers(0, len(out)))
            out[at] ^= 1 << int(rng.integers(0, 8))
    return bytes(out)


def _set_bytes(data: bytes, rng: np.random.Generator) -> bytes:
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 5))):
        if out:
            out[int(rng.integers(0, len(out)))] = int(rng.choice(_INTERESTING))
    return bytes(out)


def _truncate(data: bytes, rng: np.random.Generator) -> bytes:
    return data[: int(rng.integers(0, max(len(data), 1)))]


def _insert(data: bytes, rng: np.random.Generator) -> bytes:
    at = int(rng.integers(0, len(data) + 1))
    junk = rng.integers(0, 256, int(rng.integers(1, 65)), dtype=np.uint8).tobytes()
    return data[:at] + junk + data[at:]


def _delete(data: bytes, rng: np.random.Generator) -> bytes:
    if not data:
        return data
    at = int(rng.integers(0, len(data)))
    return data[:at] + data[at + int(rng.integers(1, 65)):]


def _duplicate(data: bytes, rng: np.random.Generator) -> bytes:
    if not data:
        return data
    at = int(rng.integers(0, len(data)))
    run = data[at:at + int(rng.integers(1, 129))]
    to = int(rng.integers(0, len(data) + 1))
    return data[:to] + run + data[to:]


def _rezip(data: bytes, rng: np.random.Generator, member_fn) -> bytes:
    """Rewrite one zip member through ``member_fn(name, bytes, rng)``; CRCs stay valid."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [(info, archive.read(info.filename)) for info in archive.infolist()]
    except Exception:  # noqa: BLE001 - the seed itself is always a valid zip
        return _bit_flip(data, rng)
    index = int(rng.integers(0, len(members)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for k, (info, payload) in enumerate(members):
            if k == index:
                payload = member_fn(info.filename, payload, rng)
            archive.writestr(info.filename, payload)
    return buffer.getvalue()


def _npz_member(name: str, payload: bytes, rng: np.random.Generator) -> bytes:
    """Change an .npy member: its dtype, shape, values, or its header text."""
    choice = rng.integers(0, 5)
    try:
        array = np.load(io.BytesIO(payload), allow_pickle=False)
    except Exception:  # noqa: BLE001
        return _bit_flip(payload, rng)
    if choice == 0:
        array = array.astype(rng.choice(["float16", "float64", "int8", "uint8", "bool",
                                         "complex64", "<U2", "int64"]))
    elif choice == 1:
        shape = list(array.shape) or [1]
        shape[int(rng.integers(0, len(shape)))] = int(rng.choice((0, 1, 2, 3, 5, 64)))
        if rng.random() < 0.3:
            shape = shape[:-1] if rng.random() < 0.5 else [*shape, 1]
        array = np.zeros(shape, array.dtype)
    elif choice == 2:
        array = array.copy()
        if array.size:
            array.flat[int(rng.integers(0, array.size))] = rng.choice([np.nan, np.inf, 1e38])
    elif choice == 3:  # the .npy header is text: change a digit or a letter in it
        out = bytearray(payload)
        end = min(len(out), 128)
        at = int(rng.integers(10, end)) if end > 10 else 0
        out[at] = int(rng.choice(list(b"0123456789(),'<>fiuUO ")))
        return bytes(out)
    else:
        return _bit_flip(payload, rng)
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _npz_rename(data: bytes, rng: np.random.Generator) -> bytes:
    """Rename, drop or add a key of the state_dict (keys are the zip member names)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = [(info.filename, archive.read(info.filename)) for info in archive.infolist()]
    index = int(rng.integers(0, len(members)))
    name, payload = members[index]
    action = rng.integers(0, 3)
    if action == 0:
        members[index] = (name.replace(".", "_", 1) if rng.random() < 0.5 else "x" + name,
                          payload)
    elif action == 1:
        del members[index]
    else:
        members.append((f"body.{int(rng.integers(0, 99))}.body.0.extra.weight.npy", payload))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for member, payload in members:
            archive.writestr(member, payload)
    return buffer.getvalue()


def _json_value(value, rng: np.random.Generator):
    options = [None, 0, -1, 1, 2, 3, 7, 10**9, -(10**9), 1.5, "", "x", [], {}, True]
    return options[int(rng.integers(0, len(options)))]


def _keras_member(name: str, payload: bytes, rng: np.random.Generator) -> bytes:
    """config.json: replace one leaf value (sizes stay small: no huge allocations)."""
    if name != "config.json":
        return _bit_flip(payload, rng)
    try:
        config = json.loads(payload)
    except ValueError:
        return _bit_flip(payload, rng)
    leaves = []

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, (*path, key))
        elif isinstance(node, list):
            for k, value in enumerate(node):
                walk(value, (*path, k))
        else:
            leaves.append(path)

    walk(config, ())
    if not leaves:
        return payload
    path = leaves[int(rng.integers(0, len(leaves)))]
    node = config
    for key in path[:-1]:
        node = node[key]
    new = _json_value(node[path[-1]], rng)
    if isinstance(new, int) and abs(new) > 64 and path[-1] in (
            "filters", "units", "n_feats", "n_resgroups", "n_resblocks", "kernel_size"):
        new = 64  # keep the model small: this is about parsing, not memory limits
    node[path[-1]] = new
    return json.dumps(config).encode()


_GENERIC = (_bit_flip, _set_bytes, _truncate, _insert, _delete, _duplicate)


def mutate(data: bytes, target: str, rng: np.random.Generator) -> bytes:
    """One to three stacked mutations of ``data``, format-aware for ``target``."""
    special = {
        "png": (_png_header_change, _png_chunk_fix, _png_chunk_fix),
        "jpeg": (_jpeg_header_change,),
        "npz": (lambda d, r: _rezip(d, r, _npz_member), _npz_rename,
                lambda d, r: _rezip(d, r, _npz_member)),
        "keras": (lambda d, r: _rezip(d, r, _keras_member),) * 3,
    }[target]
    for _ in range(int(rng.integers(1, 4))):
        pool = special + _GENERIC
        # Format-aware mutations half of the time: they get past checksums and signatures.
        fn = special[int(rng.integers(0, len(special)))] if rng.random() < 0.5 else \
            pool[int(rng.integers(0, len(pool)))]
        try:
            data = fn(data, rng)
        except Exception:  # noqa: BLE001 - an earlier mutation broke the structure
            data = _bit_flip(data, rng)
    return data


# --------------------------------------------------------------------------- checks


class _Timeout(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float):
    """Raise :class:`_Timeout` after ``seconds`` (main thread, Unix; otherwise no limit)."""
    usable = seconds > 0 and hasattr(signal, "setitimer")
    if usable:
        try:
            old = signal.signal(signal.SIGALRM, _raise_timeout)
        except ValueError:  # not the main thread
            usable = False
    if usable:
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        if usable:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)


def _raise_timeout(signum, frame):
    raise _Timeout


def check_image(path: Path, max_pixels: int) -> str:
    from rnan_keras.data.image_io import read_image

    arr = read_image(path, max_pixels=max_pixels)
    good = (
        isinstance(arr, np.ndarray) and arr.ndim == 3 and arr.shape[2] in (1, 2, 3, 4)
        and arr.dtype in (np.uint8, np.uint16) and 0 < arr.shape[0] * arr.shape[1] <= max_pixels
    )
    return "ok" if good else f"BAD_OUTPUT: {getattr(arr, 'shape', None)} {type(arr)}"


def check_npz(path: Path, max_pixels: int) -> str:
    from rnan_keras.convert.official import infer_config, load_official_weights, load_state_dict

    state = load_state_dict(path)
    if not all(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in state.values()):
        return "BAD_OUTPUT: state_dict values are not float32 arrays"
    model = tiny_model()
    config = infer_config(state, "dn_rgb")
    expected = {"variant": "dn_rgb", "n_feats": 8, "n_resgroups": 2,
                "use_non_local": model.rnan_config.use_non_local}
    if config != expected:
        return "ok"  # a different architecture: convert() would build that one
    before = [w.numpy() for w in model.weights]
    try:
        load_official_weights(model, state, source=str(path))
    finally:
        for weight, value in zip(model.weights, before, strict=True):
            weight.assign(value)
    return "ok"


def check_keras(path: Path, max_pixels: int) -> str:
    import keras

    from rnan_keras.inference.restore import load_model_file

    model = load_model_file(path)
    return "ok" if isinstance(model, keras.Model) else "BAD_OUTPUT: not a keras.Model"


CHECKS = {"png": check_image, "jpeg": check_image, "npz": check_npz, "keras": check_keras}
SUFFIX = {"png": ".png", "jpeg": ".jpg", "npz": ".npz", "keras": ".keras"}


def run_one(target: str, data: bytes, folder: Path, name: str, max_pixels: int,
            timeout: float) -> str:
    """The outcome of one input (see the module docstring)."""
    from rnan_keras.errors import RNANError

    path = folder / (name + SUFFIX[target])
    path.write_bytes(data)
    try:
        with _time_limit(timeout), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return CHECKS[target](path, max_pixels)
    except _Timeout:
        return "TIMEOUT"
    except RNANError as exc:
        return f"error:{type(exc).__name__}"
    except Exception as exc:  # noqa: BLE001 - exactly what the fuzzer looks for
        first = (str(exc).strip().splitlines() or [""])[0][:120]
        return f"CRASH:{type(exc).__name__}: {first}"
    finally:
        with contextlib.suppress(OSError):
            path.unlink()


# --------------------------------------------------------------------------- the loop


@dataclass
class FuzzResult:
    counts: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    failures: list[tuple[str, int, str]] = field(default_factory=list)
    target_seconds: Counter = field(default_factory=Counter)
    inputs: int = 0
    seconds: float = 0.0

    def outcome_counts(self) -> dict[str, dict[str, int]]:
        """``{target: {outcome class: count}}`` (CRASH messages grouped by type)."""
        return {t: dict(sorted(c.items())) for t, c in self.counts.items()}

    def table(self) -> str:
        lines = [f"{'target':8s} {'inputs':>7s} {'seconds':>8s}  outcomes"]
        for target in TARGETS:
            counter = self.counts.get(target)
            if not counter:
                continue
            parts = ", ".join(f"{k} {v}" for k, v in sorted(counter.items()))
            lines.append(f"{target:8s} {sum(counter.values()):7d} "
                         f"{self.target_seconds[target]:8.1f}  {parts}")
        lines.append(f"{'total':8s} {self.inputs:7d} {self.seconds:8.1f}  "
                     f"{len(self.failures)} failures")
        return "\n".join(lines)


def _plan(targets: tuple[str, ...], iterations: int,
          weights: dict[str, float] | None = None) -> list[str]:
    share = weights or WEIGHTS
    weights = np.array([share[t] for t in targets], float)
    counts = np.floor(weights / weights.sum() * iterations).astype(int)
    counts[0] += iterations - counts.sum()
    order = [t for t, n in zip(targets, counts, strict=True) for _ in range(n)]
    # Interleave deterministically so a time limit still covers every target.
    return [t for _, t in sorted(enumerate(order), key=lambda p: (p[0] * 7919) % len(order))]


def fuzz(
    iterations: int = 2000,
    seconds: float | None = None,
    seed: int = 0,
    targets: tuple[str, ...] = TARGETS,
    max_pixels: int = FUZZ_MAX_PIXELS,
    timeout: float = 20.0,
    save_failures: Path | None = None,
    only: int | None = None,
    workdir: Path | None = None,
    weights: dict[str, float] | None = None,
) -> FuzzResult:
    """Run up to ``iterations`` mutated inputs (stopping after ``seconds``).

    ``weights`` sets each target's share of the inputs (default :data:`WEIGHTS`).
    """
    result = FuzzResult()
    with tempfile.TemporaryDirectory(prefix="rnan_fuzz_", dir=workdir) as tmp:
        folder = Path(tmp)
        seeds = make_seeds(folder)
        plan = _plan(tuple(targets), iterations, weights)
        start = time.monotonic()
        indices = [only] if only is not None else range(len(plan))
        for i in indices:
            if seconds is not None and time.monotonic() - start > seconds:
                break
            target = plan[i % len(plan)]
            rng = np.random.default_rng([seed, i])
            pool = seeds[target]
            data = mutate(pool[int(rng.integers(0, len(pool)))], target, rng)
            began = time.monotonic()
            outcome = run_one(target, data, folder, f"in{i}", max_pixels, timeout)
            result.target_seconds[target] += time.monotonic() - began
            group = outcome.split(":")[0] if outcome.startswith("CRASH") else outcome
            group = "BAD_OUTPUT" if group.startswith("BAD_OUTPUT") else group
            result.counts[target][group] += 1
            result.inputs += 1
            if outcome.startswith(FAILURE_PREFIXES):
                result.failures.append((target, i, outcome))
                if save_failures is not None:
                    save_failures.mkdir(parents=True, exist_ok=True)
                    (save_failures / f"{target}_seed{seed}_{i}{SUFFIX[target]}").write_bytes(data)
        result.seconds = time.monotonic() - start
    return result


def _atheris(args) -> int:  # pragma: no cover - optional engine
    try:
        import atheris
    except ImportError:
        print("fuzz: atheris is not installed (pip install atheris)", file=sys.stderr)
        return 2
    target = args.targets[0]
    # Coverage feedback from Pillow's and our Python code (not TensorFlow: far too big).
    with atheris.instrument_imports(include=["PIL", "rnan_keras"]):
        import PIL.Image
        import PIL.JpegImagePlugin
        import PIL.PngImagePlugin  # noqa: F401

        import rnan_keras.convert.official
        import rnan_keras.data.image_io
        import rnan_keras.inference.restore  # noqa: F401
    tmp = Path(tempfile.mkdtemp(prefix="rnan_fuzz_"))
    atexit.register(shutil.rmtree, tmp, True)  # libFuzzer may exit without running it:
    print(f"fuzz: atheris working folder {tmp} (remove it if it is left behind)",
          file=sys.stderr)
    seeds = make_seeds(tmp)
    corpus = tmp / "corpus"
    corpus.mkdir()
    for k, data in enumerate(seeds[target]):
        (corpus / f"seed{k}").write_bytes(data)

    def one(data: bytes) -> None:
        outcome = run_one(target, data, tmp, "input", args.max_pixels, args.timeout)
        if outcome.startswith(FAILURE_PREFIXES):
            raise RuntimeError(outcome)

    atheris.Setup([sys.argv[0], str(corpus), f"-max_total_time={int(args.seconds or 60)}",
                   f"-runs={args.iterations}", f"-seed={args.seed + 1}"], one)
    atheris.Fuzz()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=20000, help="inputs to try")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the run")
    parser.add_argument("--targets", nargs="+", choices=TARGETS, default=list(TARGETS))
    parser.add_argument("--max-pixels", type=int, default=FUZZ_MAX_PIXELS,
                        help=f"pixel limit for read_image (default {FUZZ_MAX_PIXELS:,})")
    parser.add_argument("--timeout", type=float, default=20.0,
                        help="seconds one input may take before it counts as a hang")
    parser.add_argument("--only", type=int, help="run only input number N (replay)")
    parser.add_argument("--save-failures", type=Path, metavar="DIR",
                        help="write the inputs that failed here")
    parser.add_argument("--engine", choices=("mutation", "atheris"), default="mutation",
                        help="seeded mutation loop (default) or atheris (first target only)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write counts as JSON")
    args = parser.parse_args(argv)
    if args.engine == "atheris":
        return _atheris(args)
    result = fuzz(args.iterations, args.seconds, args.seed, tuple(args.targets),
                  args.max_pixels, args.timeout, args.save_failures, args.only)
    print(result.table())
    for target, i, outcome in result.failures[:50]:
        print(f"FAILURE {target} input {i} (replay: --targets {' '.join(args.targets)} "
              f"--seed {args.seed} --iterations {args.iterations} --only {i}): {outcome}")
    if args.json:
        from rnan_keras.data.image_io import atomic_write_bytes

        payload = {"seed": args.seed, "inputs": result.inputs, "seconds": result.seconds,
                   "counts": result.outcome_counts(),
                   "failures": [list(f) for f in result.failures]}
        atomic_write_bytes(args.json, (json.dumps(payload, indent=2) + "\n").encode())
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
