"""The generated bad-input corpus and the tiny models the reliability tests share.

Every file is made here with Pillow / numpy / zlib (nothing binary is committed).
``build_corpus(folder)`` writes the corpus and returns ``{name: Case}``; a case says what
:func:`rnan_keras.data.image_io.read_image` must do with the file: return an array of a
given shape and dtype (``expect_shape`` / ``expect_dtype``), or raise ``error`` (a
:class:`rnan_keras.errors.RNANError` subclass) with ``match`` in the one-line message; ``pixels`` is the exact array expected, where known
(for JPEGs: Pillow's own decoding, with the documented conversion applied).
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rnan_keras.errors import ImageReadError, ImageTooLargeError

H, W = 20, 24  # size of the ordinary images of the corpus (small: the tests run a model)
BOMB = 50_000  # the decompression-bomb headers declare BOMB x BOMB pixels


@dataclass
class Case:
    path: Path
    expect_shape: tuple[int, ...] | None = None
    expect_dtype: type | None = None
    error: type | None = None
    match: str | None = None
    pixels: np.ndarray | None = None  # the exact array read_image must return, when known

    @property
    def ok(self) -> bool:
        return self.error is None


def rgb(seed: int = 0, shape=(H, W, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def png_bytes(array: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", **options)
    return buffer.getvalue()


def jpeg_bytes(array: np.ndarray, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_header(width: int, height: int, idat: bytes | None = None) -> bytes:
    """A PNG whose IHDR declares ``width x height`` 8-bit RGB and whose IDAT is tiny."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64) if idat is None else idat
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))


def jpeg_with_size(width: int, height: int) -> bytes:
    """A valid small JPEG whose SOF0 marker is patched to declare ``width x height``."""
    data = bytearray(jpeg_bytes(rgb(1, (16, 16, 3))))
    at = data.find(b"\xff\xc0")
    data[at + 5:at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def bmp_with_size(width: int, height: int) -> bytes:
    """A 24-bit BMP header declaring ``width x height`` followed by a few pixel bytes."""
    pixels = b"\0" * 256
    header = struct.pack("<2sIHHI", b"BM", 54 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(pixels), 2835, 2835,
                       0, 0)
    return header + info + pixels


def gif_with_size(width: int, height: int) -> bytes:
    data = bytearray(_save(Image.fromarray(rgb(2, (8, 8, 3))).convert("P"), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)  # logical screen
    at = data.find(b"\x2c")  # image descriptor
    data[at + 5:at + 9] = struct.pack("<HH", width, height)
    return bytes(data)


def tiff_with_size(width: int, height: int) -> bytes:
    """A small TIFF whose ImageWidth / ImageLength tags are patched to ``width x height``."""
    raw = bytearray(_save(Image.fromarray(rgb(3, (8, 8, 3))), "TIFF"))
    offset = struct.unpack("<I", raw[4:8])[0]  # Pillow writes little-endian ("II*")
    for k in range(struct.unpack("<H", raw[offset:offset + 2])[0]):
        entry = offset + 2 + 12 * k
        tag = struct.unpack("<H", raw[entry:entry + 2])[0]
        if tag in (256, 257):  # ImageWidth, ImageLength -> type LONG, count 1
            raw[entry + 2:entry + 12] = struct.pack("<HII", 4, 1, width if tag == 256 else height)
    return bytes(raw)


def decoded(data: bytes, mode: str | None = None) -> np.ndarray:
    """Pillow's decoding of ``data`` (optionally converted to ``mode``), no EXIF applied."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert(mode) if mode else image.convert(image.mode))


def _save(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def build_corpus(folder: Path) -> dict[str, Case]:
    """Write the bad-input corpus into ``folder``; ``{file name: Case}``."""
    folder.mkdir(parents=True, exist_ok=True)
    cases: dict[str, Case] = {}

    def add(name: str, data: bytes | None, **expect) -> None:
        path = folder / name
        if data is None:
            path.mkdir()
        else:
            path.write_bytes(data)
        cases[name] = Case(path, **expect)

    good_png = png_bytes(rgb(0))
    good_jpg = jpeg_bytes(rgb(0))
    jpg_pixels = decoded(good_jpg)
    add("good.png", good_png, expect_shape=(H, W, 3), expect_dtype=np.uint8, pixels=rgb(0))
    add("good.jpg", good_jpg, expect_shape=(H, W, 3), expect_dtype=np.uint8,
        pixels=jpg_pixels)
    # The content decides the format, not the extension.
    add("jpeg_named.png", good_jpg, expect_shape=(H, W, 3), expect_dtype=np.uint8,
        pixels=jpg_pixels)
    add("empty.png", b"", error=ImageReadError, match="empty")
    add("truncated.png", good_png[: len(good_png) // 2], error=ImageReadError,
        match="truncated")
    add("truncated.jpg", good_jpg[: len(good_jpg) // 2], error=ImageReadError,
        match="truncated")
    add("signature_only.png", good_png[:8], error=ImageReadError)
    add("header_only.png", good_png[:33], error=ImageReadError)
    add("text.png", b"this is a text file, renamed to .png\n" * 4, error=ImageReadError,
        match="not a recognised image")
    add("folder.png", None, error=ImageReadError, match="folder")
    add("one_pixel.png", png_bytes(rgb(4, (1, 1, 3))), expect_shape=(1, 1, 3),
        expect_dtype=np.uint8, pixels=rgb(4, (1, 1, 3)))
    add("one_row.png", png_bytes(rgb(5, (1, 23, 3))), expect_shape=(1, 23, 3),
        expect_dtype=np.uint8, pixels=rgb(5, (1, 23, 3)))
    column = jpeg_bytes(rgb(6, (17, 1, 3)))
    add("one_column.jpg", column, expect_shape=(17, 1, 3), expect_dtype=np.uint8,
        pixels=decoded(column))
    gray16 = (np.arange(H * W, dtype=np.uint32).reshape(H, W) * 131 % 65536).astype(np.uint16)
    add("gray16.png", png_bytes(gray16), expect_shape=(H, W, 1), expect_dtype=np.uint16,
        pixels=gray16[:, :, None])
    import tensorflow as tf

    rgb16 = (rgb(7).astype(np.uint16) * 257 + np.arange(3, dtype=np.uint16)).astype(np.uint16)
    add("rgb16.png", tf.io.encode_png(rgb16).numpy(), expect_shape=(H, W, 3),
        expect_dtype=np.uint16, pixels=rgb16)
    cmyk = _save(Image.fromarray(rgb(8)).convert("CMYK"), "JPEG", quality=95)
    add("cmyk.jpg", cmyk, expect_shape=(H, W, 3), expect_dtype=np.uint8,
        pixels=decoded(cmyk, "RGB"))
    palette = Image.fromarray(rgb(9)).quantize(colors=8)
    alpha = np.where(np.asarray(palette) == 0, 0, 255).astype(np.uint8)[:, :, None]
    add("palette_transparent.png", _save(palette, "PNG", transparency=0),
        expect_shape=(H, W, 4), expect_dtype=np.uint8,
        pixels=np.concatenate([np.asarray(palette.convert("RGB")), alpha], axis=2))
    exif_image = Image.fromarray(rgb(10))
    exif = exif_image.getexif()
    exif[0x0112] = 6  # orientation 6: the stored image is shown rotated 90 degrees clockwise
    rotated = _save(exif_image, "JPEG", quality=95, exif=exif.tobytes())
    add("exif_rotated.jpg", rotated, expect_shape=(W, H, 3), expect_dtype=np.uint8,
        pixels=np.rot90(decoded(rotated), k=-1))
    add("bomb.png", png_with_header(BOMB, BOMB), error=ImageTooLargeError, match="50000")
    add("bomb.jpg", jpeg_with_size(BOMB, BOMB), error=ImageTooLargeError, match="pixels")
    add("bomb.bmp", bmp_with_size(BOMB, BOMB), error=ImageTooLargeError, match="pixels")
    add("bomb.gif", gif_with_size(BOMB // 2, BOMB // 2 + 1), error=ImageTooLargeError,
        match="pixels")
    add("bomb.tif", tiff_with_size(BOMB, BOMB), error=ImageTooLargeError, match="pixels")
    add("zero_width.png", png_with_header(0, 10), error=ImageReadError)
    return cases


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("corpus")


@pytest.fixture(scope="session")
def corpus(corpus_dir: Path) -> dict[str, Case]:
    return build_corpus(corpus_dir)


@pytest.fixture(scope="session")
def tiny_model():
    """The tiny colour denoiser of the brief (dn_rgb, 8 features, 2 groups), seeded."""
    import keras

    from rnan_keras import build_model

    keras.utils.set_random_seed(0)
    return build_model("dn_rgb", n_feats=8, n_resgroups=2)


@pytest.fixture(scope="session")
def tiny_model_file(tiny_model, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("models") / "tiny_dn_rgb.keras"
    tiny_model.save(path)
    return path


@pytest.fixture(scope="session")
def tiny_gray_model():
    import keras

    from rnan_keras import build_model

    keras.utils.set_random_seed(1)
    return build_model("dn_gray", n_feats=8, n_resgroups=2)
