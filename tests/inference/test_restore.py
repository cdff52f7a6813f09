"""restore(): every input kind, colour conversions, alpha, SR, tiling modes, bad input."""

from __future__ import annotations

import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from rnan_keras.data.image_io import read_image, write_image
from rnan_keras.errors import ConfigError, InvalidImageError, ModelLoadError, RNANError
from rnan_keras.inference import restore
from rnan_keras.inference.tiling import predict_tiled
from rnan_keras.metrics.image_metrics import rgb_to_y


def _img(shape, dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 65536 if dtype == np.uint16 else 256, shape).astype(dtype)


def _expected(model, arr_float):
    return np.floor(np.clip(predict_tiled(model, arr_float, None), 0, 255) + 0.5)


def test_uint8_rgb_array(local_rgb):
    x = _img((21, 17, 3))
    out = restore(x, local_rgb, tile="none")
    assert out.dtype == np.uint8 and out.shape == x.shape
    np.testing.assert_array_equal(out, _expected(local_rgb, x.astype(np.float32)))
    assert np.abs(out.astype(int) - x).mean() > 1  # the model did something


def test_gray_2d_array_stays_2d(local_gray):
    x = _img((13, 19))
    out = restore(x, local_gray, tile="none")
    assert out.shape == (13, 19) and out.dtype == np.uint8


def test_rgba_alpha_passes_through(local_rgb):
    x = _img((16, 12, 4))
    out = restore(x, local_rgb, tile=64)
    assert out.shape == x.shape
    np.testing.assert_array_equal(out[..., 3], x[..., 3])
    np.testing.assert_array_equal(out[..., :3], restore(x[..., :3], local_rgb, tile=64))


def test_gray_alpha_passes_through(local_gray):
    x = _img((9, 11, 2))
    out = restore(x, local_gray)
    np.testing.assert_array_equal(out[..., 1], x[..., 1])


def test_uint16_matches_uint8_path(local_rgb):
    x8 = _img((20, 20, 3))
    x16 = x8.astype(np.uint16) * 257
    out16 = restore(x16, local_rgb)
    assert out16.dtype == np.uint16
    out8 = restore(x8, local_rgb)
    assert np.abs(out16.astype(np.float64) / 257 - out8).max() <= 0.5 + 1e-6


def test_float_input_returns_clipped_float(local_rgb):
    x = _img((10, 10, 3)).astype(np.float32)
    out = restore(x, local_rgb)
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 255
    raw = predict_tiled(local_rgb, x, None)
    np.testing.assert_allclose(out, np.clip(raw, 0, 255), atol=1e-3)


@pytest.mark.parametrize(
    "bad,match",
    [
        (np.full((4, 4, 3), np.nan, np.float32), "NaN"),
        (np.full((4, 4, 3), np.inf, np.float32), "NaN or Inf"),
        (np.full((4, 4, 3), 300.0, np.float32), "0-255"),
        (np.full((4, 4, 3), -5.0), "0-255"),
        (np.full((4, 4, 3), 1000, np.int64), "0..255"),
        (np.zeros((4, 4, 5), np.uint8), "channels"),
        (np.zeros((1, 4, 4, 3), np.uint8), "shape"),
        (np.zeros((0, 4, 3), np.uint8), "empty"),
        (np.zeros((4, 4, 3), np.complex64), "dtype"),
        (np.zeros((4, 4), bool), "dtype"),
    ],
)
def test_bad_arrays_raise_invalid_image(local_rgb, bad, match):
    with pytest.raises(InvalidImageError, match=match):
        restore(bad, local_rgb)


def test_unsupported_object(local_rgb):
    with pytest.raises(InvalidImageError):
        restore([[1, 2], [3, 4]], local_rgb)


def test_int_arrays_in_0_255_are_accepted(local_rgb):
    x = _img((8, 8, 3)).astype(np.int64)
    out = restore(x, local_rgb)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, restore(x.astype(np.uint8), local_rgb))


def test_01_float_warns(local_rgb):
    with pytest.warns(UserWarning, match="0-255"):
        restore(np.random.default_rng(0).random((8, 8, 3)).astype(np.float32), local_rgb)


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "P", "I;16"])
def test_pil_in_pil_out(local_rgb, local_gray, mode):
    gray_mode = mode in ("L", "LA", "I;16")
    model = local_gray if gray_mode else local_rgb
    if mode == "I;16":
        image = Image.fromarray(_img((12, 10), np.uint16))
    elif mode == "P":
        image = Image.fromarray(_img((12, 10, 3))).convert("P")
    else:
        channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
        arr = _img((12, 10, channels))
        image = Image.fromarray(arr[..., 0] if channels == 1 else arr, mode=mode)
    out = restore(image, model)
    assert isinstance(out, Image.Image)
    assert out.size == image.size
    assert out.mode == {"P": "RGB"}.get(mode, mode)


def test_path_input_and_output(tmp_path: Path, local_rgb):
    x = _img((15, 14, 3))
    src = write_image(tmp_path / "in.png", x)
    out = restore(src, local_rgb)
    np.testing.assert_array_equal(out, restore(x, local_rgb))
    written = restore(str(src), local_rgb, output=tmp_path / "out.png")
    assert Path(written).is_file()
    np.testing.assert_array_equal(read_image(written), out)


def test_exif_rotated_file(tmp_path: Path, local_rgb):
    arr = _img((6, 10, 3))
    image = Image.fromarray(arr)
    exif = image.getexif()
    exif[0x0112] = 8  # rotate 90 degrees counter-clockwise to display
    image.save(tmp_path / "r.png", exif=exif)
    out = restore(tmp_path / "r.png", local_rgb)
    assert out.shape == (10, 6, 3)


def test_gray_image_to_colour_model_warns_and_gives_rgb(local_rgb):
    x = _img((9, 9))
    with pytest.warns(UserWarning, match="gray image given to a colour model"):
        out = restore(x, local_rgb)
    assert out.shape == (9, 9, 3)
    np.testing.assert_array_equal(out, restore(np.repeat(x[..., None], 3, 2), local_rgb))


def test_colour_image_to_gray_model_warns_and_gives_gray(local_gray):
    x = _img((9, 9, 3))
    with pytest.warns(UserWarning, match="rgb2gray"):
        out = restore(x, local_gray)
    assert out.shape == (9, 9, 1)


def test_car_model_restores_y_and_keeps_cbcr(tag):
    inp = keras.Input(shape=(None, None, 1))
    plus10 = tag(keras.Model(inp, keras.layers.Rescaling(1.0, offset=10.0)(inp)), "car")
    yy, xx = np.mgrid[0:16, 0:16]
    x = np.stack([60 + 4 * xx, 80 + 3 * yy, 120 + 2 * (xx + yy)], 2).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the Y path must not warn
        out = restore(x, plus10)
    from skimage.color import rgb2ycbcr

    before = rgb2ycbcr(x / 255.0)
    after = rgb2ycbcr(out / 255.0)
    np.testing.assert_allclose(after[..., 0] - before[..., 0], 10.0, atol=1e-3)
    np.testing.assert_allclose(after[..., 1:], before[..., 1:], atol=1e-3)
    np.testing.assert_allclose(rgb_to_y(out)[..., 0], before[..., 0] + 10, atol=1e-3)
    gray = np.full((8, 8), 100, np.uint8)
    np.testing.assert_array_equal(restore(gray, plus10), 110)  # gray taken as Y


def test_demosaic_model_takes_raw_bayer(tag):
    inp = keras.Input(shape=(None, None, 3))
    ident = tag(keras.Model(inp, keras.layers.Identity()(inp)), "demosaic")
    raw = _img((4, 6))
    out = restore(raw, ident)
    assert out.shape == (4, 6, 3)
    # GRBG: G at (0,0), R at (0,1), B at (1,0), G at (1,1); zeros elsewhere.
    assert out[0, 0, 1] == raw[0, 0] and out[0, 0, 0] == 0 and out[0, 0, 2] == 0
    assert out[0, 1, 0] == raw[0, 1] and out[0, 1, 1] == 0
    assert out[1, 0, 2] == raw[1, 0]
    assert out[1, 1, 1] == raw[1, 1]


def test_sr_scale_from_model_and_alpha_upscaled(local_sr2):
    x = _img((10, 12, 4))
    x[..., 3] = 200
    out = restore(x, local_sr2, tile=8)
    assert out.shape == (20, 24, 4)
    np.testing.assert_array_equal(out[..., 3], 200)
    with pytest.raises(ConfigError, match="scale"):
        restore(x, local_sr2, scale=3)


@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 9, 3), (7, 1, 3), (2, 2, 3), (37, 23, 3)])
def test_tiny_and_odd_images_with_rnan(tiny_rnan, shape):
    x = _img(shape)
    out = restore(x, tiny_rnan)
    assert out.shape == shape and out.dtype == np.uint8


def test_tile_modes_agree_on_small_input(tiny_rnan):
    x = _img((40, 36, 3), seed=5)
    none = restore(x, tiny_rnan, tile="none")
    np.testing.assert_array_equal(restore(x, tiny_rnan, tile=64), none)
    np.testing.assert_array_equal(restore(x, tiny_rnan, tile="auto"), none)
    np.testing.assert_array_equal(restore(x, tiny_rnan, tile="64"), none)


def test_tiles_smaller_than_the_image_are_used_and_blend(local_rgb, monkeypatch):
    """An image larger than the tiles: each tile size takes the tiled path, with the number
    of tiles it implies, and (receptive field inside the overlap) matches one pass."""
    import importlib

    from rnan_keras.inference.tiling import count_tiles

    restore_module = importlib.import_module("rnan_keras.inference.restore")

    x = _img((70, 90, 3), seed=6)
    whole = restore(x, local_rgb, tile="none").astype(np.float64)
    calls = []
    real = restore_module.predict_tiled

    def spy(model, image, tile, overlap, **kwargs):
        calls.append((tile, overlap))
        return real(model, image, tile, overlap, **kwargs)

    monkeypatch.setattr(restore_module, "predict_tiled", spy)
    for tile in (24, 32, 48):
        assert count_tiles(70, 90, tile, 8) > 1
        tiled = restore(x, local_rgb, tile=tile, overlap=8)
        assert calls[-1] == (tile, 8) and tiled.shape == x.shape
        diff = np.abs(tiled - whole)  # receptive field (3 px) within the overlap: same result
        assert diff.max() <= 3 and diff.mean() < 0.05


@pytest.mark.parametrize("tile", ["big", 3, -1, 2.5, True])
def test_bad_tile_values(local_rgb, tile):
    with pytest.raises(ConfigError):
        restore(_img((8, 8, 3)), local_rgb, tile=tile)


def test_tight_memory_budget_warns_and_still_works(tiny_rnan):
    x = _img((70, 70, 3))
    with pytest.warns(UserWarning, match="memory budget"):
        out = restore(x, tiny_rnan, max_memory="1M")
    assert out.shape == x.shape


def test_keras_file_model(tmp_path: Path, make_local):
    model = make_local(3, seed=7)
    # Lambda-free model so it loads with safe_mode=True.
    path = tmp_path / "m.keras"
    model.save(path)
    x = _img((8, 8, 3))
    np.testing.assert_array_equal(restore(x, str(path)), restore(x, model))
    np.testing.assert_array_equal(restore(x, path), restore(x, model))


def test_bad_model_files(tmp_path: Path):
    x = _img((8, 8, 3))
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ModelLoadError, match="bad.keras"):
        restore(x, bad)
    with pytest.raises(ModelLoadError, match="no such"):
        restore(x, tmp_path / "missing.keras")


def test_unknown_preset_name():
    with pytest.raises(RNANError, match="no_such_preset"):
        restore(_img((8, 8, 3)), "no_such_preset")


def test_pixel_limit(local_rgb):
    with pytest.raises(RNANError, match="limit"):
        restore(_img((20, 20, 3)), local_rgb, max_pixels=100)


def test_tile_none_uses_exact_chunked_attention(tiny_rnan):
    """Whole-image mode under a tiny budget chunks the attention; the result is unchanged."""
    from rnan_keras.inference.restore import resolve_tile, restore_array
    from rnan_keras.models.rnan import with_non_local_mode

    x = np.random.default_rng(9).uniform(0, 255, (98, 98, 3)).astype(np.float32)  # N > 96^2
    tile, runner = resolve_tile(tiny_rnan, 98, 98, "none", max_memory="1M")
    assert tile is None and runner.rnan_config.chunk_size == 64  # a chunked copy
    dense = predict_tiled(with_non_local_mode(tiny_rnan, "dense"), x, None)
    out = restore_array(tiny_rnan, x, tile="none", max_memory="1M")
    scale = np.abs(dense).max()
    np.testing.assert_allclose(out / scale, dense / scale, atol=1e-5)
