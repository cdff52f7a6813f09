"""Tests of rnan_keras.data.image_io: modes, EXIF, bit depths, bad files, atomic writes."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rnan_keras.data.image_io import (
    encode_image,
    list_images,
    read_image,
    write_image,
)
from rnan_keras.errors import ImageReadError, ImageTooLargeError, InvalidImageError, RNANError


def _rand(shape, dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    high = 65536 if dtype == np.uint16 else 256
    return rng.integers(0, high, shape).astype(dtype)


@pytest.mark.parametrize(
    "shape,dtype",
    [
        ((5, 7), np.uint8),
        ((5, 7, 1), np.uint8),
        ((5, 7, 2), np.uint8),
        ((5, 7, 3), np.uint8),
        ((5, 7, 4), np.uint8),
        ((5, 7, 1), np.uint16),
        ((5, 7, 3), np.uint16),
        ((5, 7, 4), np.uint16),
        ((1, 1, 3), np.uint8),
        ((1, 9, 1), np.uint8),
    ],
)
def test_png_roundtrip_is_lossless(tmp_path: Path, shape, dtype):
    arr = _rand(shape, dtype)
    path = write_image(tmp_path / "x.png", arr)
    got = read_image(path)
    expected = arr if arr.ndim == 3 else arr[:, :, None]
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, expected)


def test_float_array_is_rounded_and_clipped(tmp_path: Path):
    arr = np.array([[[-3.0, 0.4, 0.5], [254.6, 300.0, 127.49]]], np.float32)
    got = read_image(write_image(tmp_path / "f.png", arr))
    np.testing.assert_array_equal(got, [[[0, 0, 1], [255, 255, 127]]])


def test_tiff_and_bmp_and_jpeg(tmp_path: Path):
    arr = _rand((16, 16, 3))
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "a.tif", arr)), arr)
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "a.bmp", arr)), arr)
    smooth = np.tile(np.linspace(0, 255, 16)[None, :, None], (16, 1, 3)).astype(np.uint8)
    jpg = read_image(write_image(tmp_path / "a.jpg", smooth, quality=95))
    assert jpg.shape == (16, 16, 3) and np.abs(jpg.astype(int) - smooth).max() < 8


def test_jpeg_drops_alpha_with_warning(tmp_path: Path):
    with pytest.warns(UserWarning, match="alpha"):
        write_image(tmp_path / "a.jpg", _rand((8, 8, 4)))
    assert read_image(tmp_path / "a.jpg").shape == (8, 8, 3)


def test_exif_orientation_is_applied(tmp_path: Path):
    arr = _rand((4, 6, 3))
    image = Image.fromarray(arr)
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "rot.jpg"
    image.save(path, exif=exif, quality=100, subsampling=0)
    got = read_image(path)
    assert got.shape == (6, 4, 3)
    stored = np.asarray(Image.open(path))
    np.testing.assert_array_equal(got, np.rot90(stored, -1))


def test_palette_with_transparency_becomes_rgba(tmp_path: Path):
    image = Image.new("P", (3, 2))
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    image.putpixel((0, 0), 1)
    image.info["transparency"] = 0
    path = tmp_path / "p.png"
    image.save(path, transparency=0)
    got = read_image(path)
    assert got.shape == (2, 3, 4)
    np.testing.assert_array_equal(got[0, 0], [0, 255, 0, 255])
    np.testing.assert_array_equal(got[0, 1], [255, 0, 0, 0])


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (5, 4), (0, 255, 255, 0)).save(path)
    got = read_image(path)
    assert got.shape == (4, 5, 3)
    assert got[..., 0].min() > 200 and got[..., 1:].max() < 60  # red


def test_gray_16bit_png_from_pillow(tmp_path: Path):
    arr = np.array([[0, 1000, 65535]], np.uint16)
    path = tmp_path / "g16.png"
    Image.fromarray(arr).save(path)  # mode I;16
    np.testing.assert_array_equal(read_image(path)[:, :, 0], arr)


def test_real_benchmark_images(shared_dir: Path):
    gray = read_image(shared_dir / "data/testsets/Set12/01.png")
    assert gray.shape == (256, 256, 1) and gray.dtype == np.uint8
    tif = read_image(shared_dir / "data/testsets/McMaster/1.tif")
    assert tif.shape == (500, 500, 3)
    assert np.ptp(tif) > 100


# --------------------------------------------------------------------------- bad files


def _png_bytes(width: int, height: int) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(
            ">I", zlib.crc32(tag + data) & 0xFFFFFFFF
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_decompression_bomb_refused_from_header(tmp_path: Path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_bytes(50_000, 50_000))
    assert path.stat().st_size < 200
    with pytest.raises(ImageTooLargeError, match=r"50000x50000"):
        read_image(path)


def test_pixel_limit_is_configurable(tmp_path: Path, monkeypatch):
    path = write_image(tmp_path / "x.png", _rand((20, 30, 3)))
    with pytest.raises(ImageTooLargeError):
        read_image(path, max_pixels=599)
    assert read_image(path, max_pixels=600).shape == (20, 30, 3)
    monkeypatch.setenv("RNAN_MAX_PIXELS", "100")
    with pytest.raises(ImageTooLargeError):
        read_image(path)


def test_bomb_limit_applies_to_jpeg_headers(tmp_path: Path):
    path = write_image(tmp_path / "x.jpg", _rand((40, 50, 3)))
    with pytest.raises(ImageTooLargeError, match="x.jpg"):
        read_image(path, max_pixels=1000)


def test_bad_files_raise_specific_errors(tmp_path: Path):
    good = encode_image(_rand((32, 32, 3)), "PNG")
    jpeg = encode_image(_rand((32, 32, 3)), "JPEG")
    cases = {
        "empty.png": b"",
        "text.png": b"this is not an image\n" * 10,
        "trunc.png": good[: len(good) // 2],
        "trunc.jpg": jpeg[: len(jpeg) // 3],
        "header_only.png": good[:40],
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ImageReadError) as info:
            read_image(tmp_path / name)
        message = str(info.value)
        assert name in message and "\n" not in message
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(ImageReadError, match="folder"):
        read_image(tmp_path / "folder.png")
    with pytest.raises(ImageReadError, match="no such file"):
        read_image(tmp_path / "missing.png")


def test_every_truncation_of_a_png_is_handled(tmp_path: Path):
    data = encode_image(_rand((12, 10, 3)), "PNG")
    path = tmp_path / "t.png"
    for cut in range(0, len(data), 7):
        path.write_bytes(data[:cut])
        try:
            arr = read_image(path)
        except RNANError:
            continue
        assert arr.shape == (12, 10, 3)


def test_write_rejects_bad_arrays(tmp_path: Path):
    with pytest.raises(InvalidImageError):
        write_image(tmp_path / "a.png", np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(InvalidImageError):
        write_image(tmp_path / "a.png", np.full((4, 4), np.nan, np.float32))
    with pytest.raises(InvalidImageError, match="extension"):
        write_image(tmp_path / "a.xyz", np.zeros((4, 4), np.uint8))
    assert not any(tmp_path.iterdir())


# --------------------------------------------------------------------------- atomicity


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path: Path, monkeypatch):
    path = tmp_path / "out.png"
    write_image(path, np.zeros((4, 4), np.uint8))
    before = path.read_bytes()

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_image(path, np.full((4, 4), 255, np.uint8))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_write_creates_parent_folders(tmp_path: Path):
    path = write_image(tmp_path / "a" / "b" / "c.png", np.zeros((2, 2, 3), np.uint8))
    assert path.is_file()


def test_list_images(tmp_path: Path):
    for name in ["b.png", "a.JPG", "c.txt", ".hidden.png", "d.tif"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "dir.png").mkdir()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "e.png").write_bytes(b"x")
    assert [p.name for p in list_images(tmp_path)] == ["a.JPG", "b.png", "d.tif"]
    assert [p.name for p in list_images(tmp_path, recursive=True)] == [
        "a.JPG", "b.png", "d.tif", "e.png",
    ]
    with pytest.raises(ImageReadError):
        list_images(tmp_path / "b.png")


def test_encode_matches_pillow_decode():
    arr = _rand((6, 5, 3))
    data = encode_image(arr, "PNG")
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), arr)
