"""The generated bad-input corpus through read_image, restore() and ``rnan restore``.

Each input gives a correct result or a specific :class:`~rnan_keras.errors.RNANError` whose
one-line message names the file; the CLI turns those into one line on stderr and exit code
2 (single file) or 1 (folder mode, after processing the good files). Never a traceback.
"""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from rnan_keras.cli.main import main
from rnan_keras.data import image_io
from rnan_keras.data.image_io import read_image
from rnan_keras.errors import ConfigError, ImageTooLargeError, InvalidImageError, RNANError

restore_module = importlib.import_module("rnan_keras.inference.restore")
restore = restore_module.restore

CORPUS_NAMES = [
    "good.png", "good.jpg", "jpeg_named.png", "empty.png", "truncated.png", "truncated.jpg",
    "signature_only.png", "header_only.png", "text.png", "folder.png", "one_pixel.png",
    "one_row.png", "one_column.jpg", "gray16.png", "rgb16.png", "cmyk.jpg",
    "palette_transparent.png", "exif_rotated.jpg", "bomb.png", "bomb.jpg", "bomb.bmp",
    "bomb.gif", "bomb.tif", "zero_width.png",
]
BOMBS = [n for n in CORPUS_NAMES if n.startswith("bomb.")]


def _one_error_line(err: str, name: str, command: str = "restore") -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(f"rnan {command}: error:")]
    assert "Traceback" not in err, err
    assert len(errors) == 1, err
    assert name in errors[0], err
    return errors[0]


def test_corpus_is_complete(corpus):
    assert sorted(corpus) == sorted(CORPUS_NAMES)


# --------------------------------------------------------------------------- read_image


@pytest.mark.parametrize("name", CORPUS_NAMES)
def test_read_image(corpus, name):
    case = corpus[name]
    if case.ok:
        arr = read_image(case.path)
        assert arr.shape == case.expect_shape and arr.dtype == case.expect_dtype
        if case.pixels is not None:
            np.testing.assert_array_equal(arr, case.pixels)
        return
    with pytest.raises(case.error, match=case.match) as info:
        read_image(case.path)
    assert isinstance(info.value, RNANError)
    assert name in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("name", BOMBS)
def test_bombs_are_refused_from_the_header(corpus, name, monkeypatch):
    """Nothing is decoded: the pixel loaders are booby-trapped and must not be reached."""

    def trap(*args, **kwargs):
        raise AssertionError("pixel data was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", trap)
    monkeypatch.setattr(Image.Image, "load", trap)
    monkeypatch.setattr(image_io, "_decode_png16_color", trap)
    monkeypatch.delenv("RNAN_MAX_PIXELS", raising=False)
    with pytest.raises(ImageTooLargeError, match="above the limit of 100,000,000") as info:
        read_image(corpus[name].path)
    assert name in str(info.value)


def test_pixel_limit_is_configurable(corpus, monkeypatch):
    good = corpus["good.png"].path
    with pytest.raises(ImageTooLargeError, match="480"):
        read_image(good, max_pixels=479)
    assert read_image(good, max_pixels=480).shape == (20, 24, 3)
    monkeypatch.setenv("RNAN_MAX_PIXELS", "100")
    with pytest.raises(ImageTooLargeError):
        read_image(corpus["good.jpg"].path)
    # Raised on purpose, the limit lets a large (declared) image through to the decoder,
    # which then finds the data missing: a read error, not a crash or a huge allocation.
    monkeypatch.setenv("RNAN_MAX_PIXELS", str(3 * 10**9))
    with pytest.raises(image_io.ImageReadError):
        read_image(corpus["bomb.png"].path)


# --------------------------------------------------------------------------- restore() API


@pytest.mark.parametrize("name", CORPUS_NAMES)
def test_restore_api(corpus, tiny_model, name):
    case = corpus[name]
    if not case.ok:
        with pytest.raises(case.error, match=case.match) as info:
            restore(case.path, tiny_model)
        assert name in str(info.value)
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = restore(case.path, tiny_model, tile="none")
    h, w, c = case.expect_shape
    gray = c in (1, 2)
    alpha = c in (2, 4)
    assert out.shape == (h, w, 3 + alpha) and out.dtype == case.expect_dtype
    assert any("gray image given to a colour model" in str(m.message) for m in caught) == gray
    if alpha:  # passed through unchanged
        np.testing.assert_array_equal(out[:, :, 3], case.pixels[:, :, 3])
    # The file route equals the array route (EXIF, 16 bits and palettes already applied).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_array_equal(out, restore(case.pixels, tiny_model, tile="none"))


@pytest.mark.parametrize(
    "bad,match",
    [
        (np.full((8, 8, 3), np.nan, np.float32), "NaN"),
        (np.full((8, 8, 3), np.inf, np.float32), "NaN or Inf"),
        (np.full((8, 8, 3), -np.inf, np.float64), "NaN or Inf"),
        (np.where(np.eye(8)[:, :, None] > 0, np.nan, 10.0).repeat(3, 2), "NaN"),
        (np.full((8, 8, 3), 255.5, np.float32), "0-255"),
        (np.full((8, 8, 3), -1.0), "0-255"),
        (np.full((8, 8, 3), 256, np.int32), "0..255"),
        (np.full((8, 8, 3), -1, np.int16), "0..255"),
        (np.zeros((8, 8, 5), np.uint8), "channels"),
        (np.zeros((2, 8, 8, 3), np.uint8), "shape"),
        (np.zeros((8,), np.uint8), "shape"),
        (np.zeros((0, 8, 3), np.uint8), "empty"),
        (np.zeros((8, 8, 3), np.complex64), "dtype"),
        (np.zeros((8, 8, 3), object), "dtype"),
        (np.zeros((8, 8, 3), bool), "dtype"),
    ],
    ids=["nan", "inf", "-inf", "some-nan", "above-255", "negative", "int-256", "int-neg",
         "5-channels", "batch", "1d", "empty", "complex", "object", "bool"],
)
def test_bad_arrays(tiny_model, bad, match):
    with pytest.raises(InvalidImageError, match=match):
        restore(bad, tiny_model)


@pytest.mark.parametrize(
    "mode,values,error",
    [
        ("F", np.nan, InvalidImageError),
        ("F", 300.0, InvalidImageError),
        ("F", 12.0, None),
        ("I", 70000, InvalidImageError),
        ("I", -1, InvalidImageError),
        ("I", 4000, None),
        ("1", 1, None),
        ("CMYK", 9, None),
        ("P", 3, None),
        ("LA", 7, None),
    ],
)
def test_pil_images_of_every_mode(tiny_model, mode, values, error):
    image = Image.new(mode, (7, 5), values if mode not in ("CMYK", "LA") else (values,) * len(mode))
    if error is not None:
        with pytest.raises(error):
            restore(image, tiny_model)
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = restore(image, tiny_model)
    assert isinstance(out, Image.Image) and out.size == (7, 5)
    if mode == "I":  # 16-bit gray to a colour model: PIL has no 16-bit RGB
        assert out.mode == "RGB"
        assert any("reduced to 8 bits" in str(w.message) for w in caught)


def test_bad_python_objects(tiny_model):
    for thing in ([[1, 2], [3, 4]], None, 3.0, b"\x89PNG"):
        with pytest.raises(InvalidImageError, match="expected an image"):
            restore(thing, tiny_model)


def test_gray_to_colour_model_and_colour_to_gray_model(tiny_model, tiny_gray_model):
    """Chosen behaviour: converted with a warning (documented in restore and rnan restore)."""
    gray = np.random.default_rng(0).integers(0, 256, (9, 11), dtype=np.uint8)
    with pytest.warns(UserWarning, match="repeating it to RGB"):
        out = restore(gray, tiny_model)
    assert out.shape == (9, 11, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_array_equal(out, restore(np.repeat(gray[:, :, None], 3, 2),
                                                   tiny_model))
    colour = np.random.default_rng(1).integers(0, 256, (9, 11, 3), dtype=np.uint8)
    with pytest.warns(UserWarning, match="converting it to gray"):
        out = restore(colour, tiny_gray_model)
    assert out.shape == (9, 11, 1)
    doc = restore_module.__doc__
    assert "gray input: the gray image is repeated to RGB" in doc
    assert "converted to gray with Matlab" in doc


def test_gray_colour_handling_is_in_the_cli_help(capsys):
    with pytest.raises(SystemExit):
        main(["restore", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Gray images given to a colour model are repeated to RGB" in text
    assert "colour images given to a gray denoiser are converted" in text


def test_unknown_names(tiny_model):
    from rnan_keras import build_model

    x = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ConfigError, match="no_such_preset"):
        restore(x, "no_such_preset")
    with pytest.raises(ConfigError, match="no_such_variant"):
        build_model("no_such_variant")


# --------------------------------------------------------------------------- the CLI


@pytest.mark.parametrize("name", [n for n in CORPUS_NAMES if n != "good.png"])
def test_cli_single_file(corpus, tiny_model_file, tmp_path, capsys, name):
    case = corpus[name]
    out = tmp_path / "out.png"
    code = main(["restore", str(case.path), "-o", str(out), "--model", str(tiny_model_file),
                 "-q"])
    err = capsys.readouterr().err
    if case.ok:
        assert code == 0, err
        assert read_image(out).shape[:2] == case.expect_shape[:2]
        return
    assert code == 2
    _one_error_line(err, name)
    assert list(tmp_path.iterdir()) == []


def test_cli_folder_skips_and_reports_bad_files(corpus, corpus_dir, tiny_model_file, tmp_path,
                                                capsys):
    out = tmp_path / "out"
    code = main(["restore", str(corpus_dir), "-o", str(out), "--model", str(tiny_model_file),
                 "--format", "same", "-q"])
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err
    files = [n for n in CORPUS_NAMES if corpus[n].path.is_file()
             and corpus[n].path.suffix in image_io.IMAGE_EXTENSIONS]  # not .gif
    good = sorted(n for n in files if corpus[n].ok)
    bad = sorted(n for n in files if not corpus[n].ok)
    for name in bad:  # each on one line of its own
        assert len([line for line in err.splitlines() if f"{name}:" in line]) == 1, name
    assert f"restored {len(good)} of {len(files)} images" in err
    assert f"{len(bad)} failed" in err
    assert sorted(p.name for p in out.iterdir()) == good  # nothing partial, no temp files
    for name in good:
        assert read_image(out / name).shape[:2] == corpus[name].expect_shape[:2]


def test_cli_unknown_preset_and_bad_model(corpus, tmp_path, capsys):
    good = str(corpus["good.png"].path)
    assert main(["restore", good, "-o", str(tmp_path / "o.png"), "--preset",
                 "no_such_preset"]) == 2
    _one_error_line(capsys.readouterr().err, "no_such_preset")
    not_a_model = tmp_path / "model.keras"
    not_a_model.write_text("not a model")
    assert main(["restore", good, "-o", str(tmp_path / "o.png"), "--model",
                 str(not_a_model)]) == 2
    _one_error_line(capsys.readouterr().err, "model.keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]


def test_cli_directory_named_like_an_image(corpus, tiny_model_file, tmp_path, capsys):
    """A folder given as input is a folder: empty, so nothing to restore (exit 2)."""
    folder = corpus["folder.png"].path
    code = main(["restore", str(folder), "-o", str(tmp_path / "o"), "--model",
                 str(tiny_model_file)])
    assert code == 2
    _one_error_line(capsys.readouterr().err, "folder.png")


def test_outputs_need_a_real_path(corpus, tiny_model_file, tmp_path: Path, capsys):
    """An output folder that cannot be created (a file is in the way): one line, exit 1."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = main(["restore", str(corpus["good.png"].path), "-o", str(blocker / "o.png"),
                 "--model", str(tiny_model_file), "-q"])
    err = capsys.readouterr().err
    assert code == 1  # the image failed (its output cannot be written); not a usage error
    _one_error_line(err, "good.png")
    assert str(blocker) in err
