"""JPEG via TensorFlow equals Pillow's encode+decode (4:2:0, standard tables) exactly."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from rnan_keras.data.jpeg import jpeg_compress
from rnan_keras.errors import ConfigError, InvalidImageError

QUALITIES = (10, 20, 30, 40)
COLOUR = ("CBSD68/101085.png", "Kodak24/kodim05.png", "Set5/HR/butterfly.png")
GRAY = ("Set12/01.png", "Classic5/barbara.png", "BSD68/test005.png")


def pillow_jpeg(arr: np.ndarray, quality: int) -> np.ndarray:
    img = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)  # Pillow default: 4:2:0 for colour
    out = np.asarray(Image.open(io.BytesIO(buf.getvalue())))
    return out.reshape(arr.shape)


def _load(shared_dir, rel):
    path = shared_dir / "data" / "testsets" / rel
    if not path.is_file():
        pytest.skip(f"{path} not found")
    arr = np.asarray(Image.open(path))
    return arr[..., None] if arr.ndim == 2 else arr


@pytest.mark.parametrize("rel", COLOUR + GRAY)
def test_equal_to_pillow(shared_dir, rel):
    arr = _load(shared_dir, rel)
    # also an odd-sized crop (partial 16x16 MCUs at the border)
    for img in (arr, arr[3:104, 5:82]):
        for q in QUALITIES:
            got = jpeg_compress(img.astype(np.float32), q).numpy()
            want = pillow_jpeg(np.ascontiguousarray(img), q)
            assert got.shape == img.shape
            np.testing.assert_array_equal(got, want.astype(np.float32), err_msg=f"q={q}")


def test_batch_with_per_image_quality(shared_dir):
    arr = _load(shared_dir, COLOUR[2])[:64, :64]
    batch = np.stack([arr, arr[::-1]]).astype(np.float32)
    got = jpeg_compress(batch, np.array([10, 40])).numpy()
    np.testing.assert_array_equal(got[0], pillow_jpeg(arr, 10))
    np.testing.assert_array_equal(got[1], pillow_jpeg(np.ascontiguousarray(arr[::-1]), 40))


def test_float_input_is_rounded_and_clipped():
    rng = np.random.default_rng(0)
    x = rng.uniform(-20, 275, (32, 32, 1)).astype(np.float32)
    as_u8 = np.floor(np.clip(x, 0, 255) + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(jpeg_compress(x, 30).numpy(), pillow_jpeg(as_u8, 30))


def test_bad_quality_and_channels():
    with pytest.raises(ConfigError):
        jpeg_compress(np.zeros((8, 8, 1), np.float32), 0)
    with pytest.raises(InvalidImageError):
        jpeg_compress(np.zeros((8, 8, 2), np.float32), 50)
