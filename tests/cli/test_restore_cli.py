"""``rnan restore``: files and folders, --force, bad files, collisions, interruption."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
from pathlib import Path

import keras
import numpy as np
import pytest

from rnan_keras.cli import restore as restore_cli
from rnan_keras.data.image_io import read_image, write_image
from rnan_keras.errors import ConfigError, ImageReadError, ModelLoadError

# The package re-exports the function ``restore``, so fetch the module itself.
restore_module = importlib.import_module("rnan_keras.inference.restore")


def _run(argv):
    parser = argparse.ArgumentParser()
    restore_cli.register(parser.add_subparsers())
    args = parser.parse_args(["restore", *argv])
    return args.func(args)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    """A one-conv colour model (brightens by ~10) saved as .keras."""
    x = keras.Input(shape=(None, None, 3))
    conv = keras.layers.Conv2D(3, 3, padding="same", kernel_initializer="zeros",
                               bias_initializer=keras.initializers.Constant(10.0))
    model = keras.Model(x, keras.layers.Add()([x, conv(x)]))
    path = tmp_path_factory.mktemp("model") / "plus10.keras"
    model.save(path)
    return path


def _img(seed=0, shape=(20, 24, 3)):
    return np.random.default_rng(seed).integers(0, 240, shape).astype(np.uint8)


def test_single_file(tmp_path: Path, model_file: Path):
    src = write_image(tmp_path / "in.png", _img())
    dst = tmp_path / "out.png"
    assert _run([str(src), "-o", str(dst), "--model", str(model_file), "-q"]) == 0
    np.testing.assert_array_equal(read_image(dst).astype(int), _img().astype(int) + 10)
    with pytest.raises(ConfigError, match="exists"):
        _run([str(src), "-o", str(dst), "--model", str(model_file), "-q"])
    write_image(dst, np.zeros((2, 2, 3), np.uint8))
    assert _run([str(src), "-o", str(dst), "--model", str(model_file), "-q", "--force"]) == 0
    assert read_image(dst).shape == (20, 24, 3)


def test_folder_with_a_bad_file(tmp_path: Path, model_file: Path, capsys):
    folder = tmp_path / "in"
    for i in range(3):
        write_image(folder / f"img{i}.png", _img(i))
    (folder / "broken.png").write_bytes(b"not an image at all")
    (folder / "notes.txt").write_text("ignored")
    out = tmp_path / "out"
    code = _run([str(folder), "-o", str(out), "--model", str(model_file), "--tile", "16"])
    assert code == 1
    err = capsys.readouterr().err
    assert "broken.png" in err and "restored 3 of 4 images" in err and "1 failed" in err
    assert sorted(p.name for p in out.iterdir()) == ["img0.png", "img1.png", "img2.png"]
    np.testing.assert_array_equal(read_image(out / "img1.png").astype(int),
                                  _img(1).astype(int) + 10)


def test_existing_outputs_are_skipped_in_folder_mode(tmp_path: Path, model_file: Path, capsys):
    folder = tmp_path / "in"
    write_image(folder / "a.png", _img(0))
    write_image(folder / "b.png", _img(1))
    out = tmp_path / "out"
    write_image(out / "a.png", np.zeros((2, 2, 3), np.uint8))
    assert _run([str(folder), "-o", str(out), "--model", str(model_file)]) == 0
    assert read_image(out / "a.png").shape == (2, 2, 3)  # untouched
    assert read_image(out / "b.png").shape == (20, 24, 3)
    assert "1 skipped" in capsys.readouterr().err


def test_format_and_files_plus_folders(tmp_path: Path, model_file: Path):
    write_image(tmp_path / "x.bmp", _img(0))
    write_image(tmp_path / "d" / "y.jpg", _img(1))
    out = tmp_path / "out"
    assert _run([str(tmp_path / "x.bmp"), str(tmp_path / "d"), "-o", str(out),
                 "--model", str(model_file), "-q"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["x.png", "y.png"]
    out2 = tmp_path / "out2"
    assert _run([str(tmp_path / "x.bmp"), "-o", str(out2), "--model", str(model_file),
                 "--format", "same", "-q"]) == 0
    assert (out2 / "x.bmp").is_file()


def test_output_collisions_are_refused(tmp_path: Path, model_file: Path):
    write_image(tmp_path / "a" / "same.png", _img(0))
    write_image(tmp_path / "b" / "same.png", _img(1))
    with pytest.raises(ConfigError, match="both be written"):
        _run([str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(tmp_path / "out"),
              "--model", str(model_file)])


def test_bad_arguments(tmp_path: Path, model_file: Path):
    src = write_image(tmp_path / "in.png", _img())
    with pytest.raises(ImageReadError, match="no such"):
        _run([str(tmp_path / "missing.png"), "-o", str(tmp_path / "o.png"),
              "--model", str(model_file)])
    with pytest.raises(ConfigError, match="tile"):
        _run([str(src), "-o", str(tmp_path / "o.png"), "--model", str(model_file),
              "--tile", "big"])
    bad = tmp_path / "bad.keras"
    bad.write_text("nope")
    with pytest.raises(ModelLoadError, match="bad.keras"):
        _run([str(src), "-o", str(tmp_path / "o.png"), "--model", str(bad)])
    with pytest.raises(SystemExit):  # --model or --preset is required
        _run([str(src), "-o", str(tmp_path / "o.png")])


def test_ensemble_options():
    parser = argparse.ArgumentParser()
    restore_cli.register(parser.add_subparsers())
    base = ["restore", "in.png", "-o", "out.png", "--preset", "dn_rgb_small"]
    assert parser.parse_args(base).ensemble == 1  # off
    assert parser.parse_args([*base, "--ensemble"]).ensemble == 8
    assert parser.parse_args([*base, "--ensemble-views", "4"]).ensemble == 4
    with pytest.raises(SystemExit):  # only 1, 2, 4 or 8 views
        parser.parse_args([*base, "--ensemble-views", "3"])


def test_single_bad_file_is_an_error(tmp_path: Path, model_file: Path):
    (tmp_path / "trunc.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(ImageReadError, match="trunc.png"):
        _run([str(tmp_path / "trunc.png"), "-o", str(tmp_path / "o.png"),
              "--model", str(model_file)])
    assert not (tmp_path / "o.png").exists()


def test_ctrl_c_stops_after_the_current_image(tmp_path: Path, model_file: Path, monkeypatch,
                                              capsys):
    folder = tmp_path / "in"
    for i in range(4):
        write_image(folder / f"img{i}.png", _img(i))
    real = restore_module.restore
    calls = []

    def restore_and_interrupt(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)  # arrives while image 2 is processed
        return real(*args, **kwargs)

    monkeypatch.setattr(restore_module, "restore", restore_and_interrupt)
    # pytest-xdist workers start with SIGINT ignored: install Python's default handler, as
    # in a plain interpreter, and check that the command puts it back afterwards.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code = _run([str(folder), "-o", str(tmp_path / "out"), "--model", str(model_file)])
        handler_after = signal.getsignal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert code == 130
    err = capsys.readouterr().err
    assert "interrupted: restored 2 of 4 images" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["img0.png", "img1.png"]
    assert handler_after is signal.default_int_handler  # handler restored


def test_preset_with_sigma_restores_and_notes_once(tmp_path: Path, capsys):
    # A blind preset takes no sigma: the run works, says so once, and the result is the
    # same as without --sigma (the setting never reaches the model config).
    for i in range(2):
        write_image(tmp_path / "in" / f"{i}.png", _img(i, (16, 16, 3)))
    plain, noted = tmp_path / "plain", tmp_path / "noted"
    assert _run([str(tmp_path / "in"), "-o", str(plain), "--preset", "dn_rgb_small", "-q"]) == 0
    capsys.readouterr()
    assert _run([str(tmp_path / "in"), "-o", str(noted), "--preset", "dn_rgb_small",
                 "--sigma", "25", "-q"]) == 0
    err = capsys.readouterr().err
    assert err.count("takes no sigma") == 1, err
    for i in range(2):
        np.testing.assert_array_equal(read_image(noted / f"{i}.png"), read_image(plain / f"{i}.png"))


def test_preset_with_setting_of_another_task_is_refused(tmp_path: Path):
    src = write_image(tmp_path / "in.png", _img(0, (16, 16, 3)))
    with pytest.raises(ConfigError, match="quality applies to JPEG"):
        _run([str(src), "-o", str(tmp_path / "o.png"), "--preset", "dn_rgb_small",
              "--quality", "10", "-q"])
    with pytest.raises(ConfigError, match="sigma applies to denoising"):
        _run([str(src), "-o", str(tmp_path / "o.png"), "--preset", "car_small",
              "--sigma", "25", "-q"])
    assert not (tmp_path / "o.png").exists()


def test_preset_sigma_outside_trained_range_warns(tmp_path: Path, capsys):
    src = write_image(tmp_path / "in.png", _img(0, (16, 16, 3)))
    assert _run([str(src), "-o", str(tmp_path / "o.png"), "--preset", "dn_rgb_small",
                 "--sigma", "90", "-q"]) == 0
    assert "outside the range preset 'dn_rgb_small' was trained on (0-75)" in capsys.readouterr().err
