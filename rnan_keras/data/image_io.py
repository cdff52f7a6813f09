"""Reading and writing image files safely.

- :func:`read_image` returns an ``(H, W, C)`` numpy array, ``uint8`` or ``uint16``, with the
  EXIF orientation applied. ``C`` is 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA). The
  pixel count is checked from the file header *before* anything is decoded, so a
  decompression bomb (a small file declaring 50 000 x 50 000 pixels) is refused cheaply
  with :class:`~rnan_keras.errors.ImageTooLargeError`.
- :func:`write_image` writes atomically: a temporary file in the target folder, flushed
  and fsync-ed, then ``os.replace``; an interrupted write leaves the old file or none.
- :func:`list_images` lists the image files of a folder, sorted by name.

Every failure raises a subclass of :class:`~rnan_keras.errors.RNANError` whose one-line
message names the file: :class:`~rnan_keras.errors.ImageReadError` (missing, a folder,
empty, truncated, not an image), :class:`~rnan_keras.errors.ImageTooLargeError` and
:class:`~rnan_keras.errors.InvalidImageError` (an array that cannot be written).

Mode handling: palette images become RGB or RGBA (RGBA when they carry transparency), CMYK /
YCbCr / LAB / HSV become RGB, 1-bit becomes gray, 16-bit PNG (gray or colour) stays uint16.
32-bit integer and float images are converted to uint16 / uint8 when their values fit.

The default pixel limit (:data:`DEFAULT_MAX_PIXELS`, 100 megapixels) keeps a restore of the
largest allowed image within a 24 GiB machine (the float32 input, output and blending
buffers of a 100 MP RGB image take about 5 GiB; x4 super-resolution makes the output 16x
larger, so use tiles and smaller inputs there). Override it per call, or for the whole
process with the ``RNAN_MAX_PIXELS`` environment variable.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import struct
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np

from rnan_keras.errors import ImageReadError, ImageTooLargeError, InvalidImageError

DEFAULT_MAX_PIXELS = 100_000_000

#: File extensions recognised by :func:`list_images` and :func:`write_image` (lower case).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")

_PIL_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".ppm": "PPM",
    ".pgm": "PPM",
}

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PIL_LIMIT_LOCK = threading.Lock()


def default_max_pixels() -> int:
    """The pixel limit in force: ``$RNAN_MAX_PIXELS`` if set, else :data:`DEFAULT_MAX_PIXELS`."""
    value = os.environ.get("RNAN_MAX_PIXELS")
    if value:
        try:
            return int(float(value))
        except ValueError:
            pass
    return DEFAULT_MAX_PIXELS


@contextlib.contextmanager
def _pil_pixel_limit(max_pixels: int):
    """Let PIL open images up to ``max_pixels`` (its own guard would fire at ~89 MP)."""
    from PIL import Image

    with _PIL_LIMIT_LOCK:
        old = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = max(int(max_pixels), 1)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                yield
        finally:
            Image.MAX_IMAGE_PIXELS = old


def _png_header(data_head: bytes) -> tuple[int, int, int, int] | None:
    """(width, height, bit_depth, colour_type) from a PNG's IHDR, or None if not a PNG."""
    if len(data_head) < 29 or not data_head.startswith(_PNG_SIGNATURE):
        return None
    if data_head[12:16] != b"IHDR":
        return None
    width, height, depth, ctype = struct.unpack(">IIBB", data_head[16:26])
    return width, height, depth, ctype


def _check_pixels(path: Path, width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageReadError(f"{path}: invalid image size {width}x{height}")
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"{path}: image declares {width}x{height} = {width * height:,} pixels, "
            f"above the limit of {max_pixels:,} (raise it with max_pixels= or RNAN_MAX_PIXELS)"
        )


def pil_to_array(image, *, source: str = "image") -> np.ndarray:
    """Convert a decoded PIL image to ``(H, W, C)`` uint8 / uint16, applying EXIF orientation.

    ``C`` is 1, 2 (LA), 3 or 4 (RGBA). Raises :class:`InvalidImageError` for a mode that
    cannot be represented (e.g. 32-bit integers above 65535).
    """
    from PIL import ImageOps

    # A broken EXIF block must not stop reading the pixels: keep the stored orientation.
    with contextlib.suppress(Exception):
        image = ImageOps.exif_transpose(image)
    mode = image.mode
    if mode == "P" or mode == "PA":
        has_alpha = mode == "PA" or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
    elif mode == "1":
        image = image.convert("L")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        image = image.convert("RGB")
    elif mode in ("La", "LA"):
        image = image.convert("LA")
    elif mode == "RGBa":
        image = image.convert("RGBA")
    elif mode not in ("L", "RGB", "RGBA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F", "RGBX"):
        image = image.convert("RGBA" if "A" in mode else "RGB")
    if image.mode == "RGBX":
        image = image.convert("RGB")

    arr = np.asarray(image)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    if image.mode.startswith("I"):
        arr = arr.astype(np.int64)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise InvalidImageError(
                f"{source}: 32-bit integer pixels outside 0..65535 are not supported"
            )
        arr = arr.astype(np.uint16)
    elif image.mode == "F":
        arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr)):
            raise InvalidImageError(f"{source}: float image contains NaN or Inf")
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise InvalidImageError(
                f"{source}: float image values must lie in 0..255, got "
                f"{arr.min():g}..{arr.max():g}"
            )
        arr = np.floor(arr + 0.5).astype(np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.dtype not in (np.uint8, np.uint16):
        raise InvalidImageError(f"{source}: unsupported pixel type {arr.dtype} (mode {mode})")
    return np.ascontiguousarray(arr)


def _decode_png16_color(data: bytes) -> np.ndarray:
    """16-bit colour PNG (PIL would reduce it to 8 bits): decode with TensorFlow."""
    import tensorflow as tf

    arr = tf.io.decode_png(data, channels=0, dtype=tf.uint16).numpy()
    return np.ascontiguousarray(arr)


def read_image(path: str | os.PathLike, max_pixels: int | None = None) -> np.ndarray:
    """Read an image file into an ``(H, W, C)`` uint8 / uint16 array (EXIF orientation applied).

    Args:
        path: the image file.
        max_pixels: refuse images declaring more pixels than this (checked from the header,
            before decoding); default :func:`default_max_pixels`.

    Raises:
        ImageReadError: missing file, a folder, empty / truncated / corrupt / not an image.
        ImageTooLargeError: the header declares more than ``max_pixels`` pixels.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    limit = int(max_pixels) if max_pixels is not None else default_max_pixels()
    if path.is_dir():
        raise ImageReadError(f"{path}: is a folder, not an image file")
    try:
        with open(path, "rb") as handle:
            head = handle.read(32)
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file") from None
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    if not head:
        raise ImageReadError(f"{path}: file is empty (0 bytes)")

    png = _png_header(head)
    if png is not None:
        width, height, depth, ctype = png
        _check_pixels(path, width, height, limit)
        if depth == 16 and ctype in (2, 4, 6):
            try:
                return _decode_png16_color(path.read_bytes())
            except Exception as exc:  # noqa: BLE001 - any decoder failure is a bad file
                raise ImageReadError(f"{path}: corrupt or truncated PNG ({_short(exc)})") from None

    try:
        with _pil_pixel_limit(limit), Image.open(path) as image:
            _check_pixels(path, image.width, image.height, limit)
            image.load()
            return pil_to_array(image, source=str(path))
    except (ImageReadError, InvalidImageError):
        raise
    except Image.DecompressionBombError as exc:  # Pillow's own guard, at twice our limit
        found = re.search(r"\((\d+) pixels\)", str(exc))
        declared = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
        raise ImageTooLargeError(
            f"{path}: image declares {declared}, above the limit of {limit:,} "
            "(raise it with max_pixels= or RNAN_MAX_PIXELS)"
        ) from None
    except UnidentifiedImageError:
        raise ImageReadError(f"{path}: not a recognised image file") from None
    except MemoryError:
        raise ImageReadError(f"{path}: not enough memory to decode the image") from None
    except Exception as exc:  # noqa: BLE001 - truncated data, bad chunks, codec errors...
        raise ImageReadError(f"{path}: corrupt or truncated image ({_short(exc)})") from None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def list_images(folder: str | os.PathLike, recursive: bool = False) -> list[Path]:
    """Image files (by extension, see :data:`IMAGE_EXTENSIONS`) in ``folder``, sorted.

    Hidden files and sub-folders (even ones named like images) are skipped; with
    ``recursive=True`` sub-folders are searched too. Raises :class:`ImageReadError` if
    ``folder`` is not a folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageReadError(f"{folder}: not a folder")
    pattern = "**/*" if recursive else "*"
    files = [
        p
        for p in folder.glob(pattern)
        if p.suffix.lower() in IMAGE_EXTENSIONS
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and p.is_file()
    ]
    return sorted(files)


def _as_writable(array: np.ndarray, fmt: str, path: Path) -> np.ndarray:
    arr = np.asarray(array)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4) or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InvalidImageError(
            f"{path}: cannot write an array of shape {array.shape}; expected (H, W) or "
            "(H, W, C) with C in 1..4"
        )
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise InvalidImageError(f"{path}: array contains NaN or Inf")
        arr = np.floor(np.clip(arr, 0.0, 255.0) + 0.5).astype(np.uint8)
    elif arr.dtype.kind in "iu" and arr.dtype not in (np.uint8, np.uint16):
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise InvalidImageError(f"{path}: integer values outside 0..65535")
        arr = arr.astype(np.uint16 if arr.size and arr.max() > 255 else np.uint8)
    elif arr.dtype not in (np.uint8, np.uint16):
        raise InvalidImageError(f"{path}: unsupported dtype {arr.dtype}")
    if arr.dtype == np.uint16 and fmt not in ("PNG", "TIFF"):
        warnings.warn(
            f"{path}: {fmt} stores 8 bits per channel; reducing the 16-bit image to 8 bits",
            stacklevel=3,
        )
        arr = np.floor(arr.astype(np.float64) / 257.0 + 0.5).astype(np.uint8)
    if fmt in ("JPEG", "PPM", "BMP") and arr.shape[2] in (2, 4):
        warnings.warn(f"{path}: {fmt} has no alpha channel; dropping it", stacklevel=3)
        arr = arr[:, :, : arr.shape[2] - 1]
    return np.ascontiguousarray(arr)


def encode_image(array: np.ndarray, fmt: str = "PNG", *, quality: int = 95,
                 path: Path | None = None) -> bytes:
    """Encode ``(H, W[, C])`` uint8 / uint16 / float(0-255) pixels to file bytes of ``fmt``."""
    from PIL import Image

    where = path or Path(f"<{fmt} image>")
    arr = _as_writable(array, fmt, where)
    c = arr.shape[2]
    if arr.dtype == np.uint16 and c > 1:
        if fmt != "PNG":
            raise InvalidImageError(f"{where}: 16-bit colour images can only be written as PNG")
        import tensorflow as tf

        return tf.io.encode_png(arr).numpy()
    if arr.dtype == np.uint16:
        image = Image.fromarray(np.ascontiguousarray(arr[:, :, 0]))  # mode I;16
    else:
        mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[c]
        image = Image.fromarray(arr[:, :, 0] if c == 1 else arr, mode=mode)
    buffer = io.BytesIO()
    options: dict = {}
    if fmt == "JPEG":
        options = {"quality": int(quality), "subsampling": 0}
    elif fmt == "WEBP":
        options = {"quality": int(quality)}
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        # mkstemp creates the file 0600; give it the mode a plain open() would (or keep the
        # mode of the file being replaced).
        with contextlib.suppress(OSError):
            os.fchmod(fd, path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def _umask() -> int:
    with _PIL_LIMIT_LOCK:
        mask = os.umask(0)
        os.umask(mask)
    return mask


def write_image(path: str | os.PathLike, array: np.ndarray, *, quality: int = 95) -> Path:
    """Write ``array`` to ``path`` atomically; the format comes from the extension.

    Args:
        path: output file; ``.png``, ``.jpg``/``.jpeg``, ``.bmp``, ``.tif``/``.tiff``,
            ``.webp``, ``.ppm``/``.pgm``. Missing parent folders are created.
        array: ``(H, W)`` or ``(H, W, C)`` with C in 1..4; uint8, uint16 (PNG / TIFF keep
            16 bits, other formats get 8 with a warning) or float on the 0-255 scale
            (rounded and clipped to uint8).
        quality: JPEG / WebP quality (JPEG is written without chroma subsampling).

    Returns:
        The path written. Raises :class:`InvalidImageError` for an unwritable array and
        :class:`ImageReadError`-free ``OSError`` subclasses only for file-system failures.
    """
    path = Path(path)
    fmt = _PIL_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InvalidImageError(
            f"{path}: unknown image extension {path.suffix!r}; use one of "
            + ", ".join(IMAGE_EXTENSIONS)
        )
    data = encode_image(array, fmt, quality=quality, path=path)
    return atomic_write_bytes(path, data)


# --------------------------------------------------------------------------- arrays <-> float


def image_from_input(image, max_pixels: int | None = None) -> tuple[np.ndarray, str, bool]:
    """``(array HWC, kind, squeeze)`` from a path, PIL image or numpy array.

    ``kind`` is ``path``, ``pil`` or ``array``; ``squeeze`` tells that a 2-D array was given
    (a 1-channel result goes back 2-D). Raises :class:`ImageTooLargeError` above
    ``max_pixels`` and :class:`InvalidImageError` for anything else unusable.
    """
    from PIL import Image

    if isinstance(image, str | os.PathLike):
        arr, kind, squeeze = read_image(image, max_pixels=max_pixels), "path", False
    elif isinstance(image, Image.Image):
        arr, kind, squeeze = pil_to_array(image, source="PIL image"), "pil", False
    elif isinstance(image, np.ndarray):
        arr, kind, squeeze = check_array(image), "array", image.ndim == 2
    else:
        raise InvalidImageError(
            f"expected an image path, a PIL image or a numpy array, got {type(image).__name__}"
        )
    if max_pixels is not None and arr.shape[0] * arr.shape[1] > max_pixels:
        raise ImageTooLargeError(
            f"image has {arr.shape[0] * arr.shape[1]:,} pixels, above the limit {max_pixels:,}"
        )
    return arr, kind, squeeze


def check_array(arr: np.ndarray) -> np.ndarray:
    """An ``(H, W)`` / ``(H, W, C)`` image array checked (dtype, range, finite) as HWC."""
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise InvalidImageError(
            f"image array must be (H, W) or (H, W, C), got shape {arr.shape}"
        )
    h, w, c = arr.shape
    if h < 1 or w < 1:
        raise InvalidImageError(f"image array is empty (shape {arr.shape})")
    if c not in (1, 2, 3, 4):
        raise InvalidImageError(f"image must have 1, 2, 3 or 4 channels, got {c}")
    if arr.dtype == np.bool_ or arr.dtype.kind not in "uif":
        raise InvalidImageError(f"unsupported image dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise InvalidImageError("image contains NaN or Inf values")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < -1e-3 or hi > 255.0 + 1e-3:
            raise InvalidImageError(
                f"float images must be on the 0-255 scale, got values in {lo:g}..{hi:g}"
            )
        if hi <= 1.0 and hi > lo:
            warnings.warn(
                "float image has values <= 1; rnan_keras expects the 0-255 scale "
                "(multiply by 255 if this is a 0-1 image)",
                stacklevel=4,
            )
    elif arr.dtype.kind in "iu" and arr.dtype not in (np.uint8, np.uint16):
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 255:
            raise InvalidImageError(
                f"{arr.dtype} images must hold 0..255 (use uint16 for 16-bit), got {lo}..{hi}"
            )
    return arr


def to_float(arr: np.ndarray) -> np.ndarray:
    """The one image-to-float conversion: float32 on 0-255 (uint16 is divided by 257)."""
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / np.float32(257.0)
    return np.clip(arr.astype(np.float32), 0.0, 255.0)


def from_float(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Back from float 0-255 to ``dtype`` (clipped; rounded halves up for integers)."""
    x = np.clip(x, 0.0, 255.0)
    if dtype == np.uint16:
        return np.floor(x.astype(np.float64) * 257.0 + 0.5).astype(np.uint16)
    if dtype.kind == "f":
        return x.astype(dtype)
    return np.floor(x + 0.5).astype(dtype)


def load_rgb(path: str) -> tuple[np.ndarray, bool]:
    """Read an image file as (uint8 RGB [H, W, 3], was_gray); 16-bit is scaled to 8 bits.

    Gray files are repeated to 3 channels (``was_gray`` tells), alpha is dropped. Reads with
    :func:`read_image` (EXIF orientation, pixel limit) and converts with :func:`to_float`. The
    training pipeline's loader (and ``scripts/train_jax.py``'s, which runs without TensorFlow).
    """
    arr = read_image(path)
    if arr.dtype != np.uint8:
        arr = np.floor(to_float(arr) + 0.5).astype(np.uint8)
    if arr.shape[2] in (2, 4):  # drop alpha
        arr = arr[:, :, :-1]
    gray = arr.shape[2] == 1
    if gray:
        arr = np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr), gray


def upscale_alpha(alpha: np.ndarray, scale: int) -> np.ndarray:
    """Bicubic up-scaling of an ``(H, W, 1)`` float alpha channel."""
    if scale == 1:
        return alpha
    from PIL import Image

    h, w = alpha.shape[:2]
    img = Image.fromarray(alpha[:, :, 0].astype(np.float32), mode="F")
    big = img.resize((w * scale, h * scale), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(big, dtype=np.float32), 0.0, 255.0)[:, :, None]


def to_pil(arr: np.ndarray):
    """An HWC uint8 / uint16 array as a PIL image (16-bit colour is reduced to 8 bits)."""
    from PIL import Image

    c = arr.shape[2]
    if arr.dtype == np.uint16:
        if c == 1:
            return Image.fromarray(np.ascontiguousarray(arr[:, :, 0]))  # mode I;16
        # A 16-bit gray PIL image given to a colour model: PIL has no 16-bit colour mode.
        warnings.warn(
            "PIL cannot hold 16-bit colour images: the result is reduced to 8 bits "
            "(pass a numpy array to keep 16 bits)",
            stacklevel=3,
        )
        arr = np.floor(arr.astype(np.float64) / 257.0 + 0.5).astype(np.uint8)
    if arr.dtype != np.uint8:
        arr = np.floor(np.clip(arr, 0, 255) + 0.5).astype(np.uint8)
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[c]
    return Image.fromarray(arr[:, :, 0] if c == 1 else arr, mode=mode)
