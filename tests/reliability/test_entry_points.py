"""Bad input through the other entry points: ``rnan eval``, ``rnan train``, the dataset
pipeline, and warnings on the command line (one line each, naming the file)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from rnan_keras.cli.main import main
from rnan_keras.data.image_io import write_image


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory) -> Path:
    """Three good 32x32 images and two broken files."""
    folder = tmp_path_factory.mktemp("mixed")
    rng = np.random.default_rng(0)
    for i in range(3):
        write_image(folder / f"im{i}.png", rng.integers(0, 256, (32, 32, 3), np.uint8))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    (folder / "empty.jpg").write_bytes(b"")
    return folder


@pytest.fixture(scope="module")
def broken_folder(tmp_path_factory) -> Path:
    """Only images whose header is fine but whose pixel data is cut off."""
    folder = tmp_path_factory.mktemp("broken")
    rng = np.random.default_rng(1)
    for i in range(2):
        path = write_image(folder / f"t{i}.png", rng.integers(0, 256, (32, 32, 3), np.uint8))
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    return folder


def test_eval_skips_bad_files_reports_them_and_exits_1(mixed_folder, tiny_model_file,
                                                        tmp_path, capsys):
    out = tmp_path / "report"
    code = main(["eval", "--task", "dn_rgb", "--data", str(mixed_folder), "--model",
                 str(tiny_model_file), "--sigma", "25", "--out", str(out), "-q", "--grid", "0"])
    captured = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in captured.err
    for name in ("broken.png", "empty.jpg"):  # one warning line each, naming the file
        lines = [line for line in captured.err.splitlines() if name in line]
        assert len(lines) == 1 and lines[0].startswith("rnan eval: warning:"), captured.err
    assert "2 unreadable file(s) skipped" in captured.err
    for i in range(3):
        assert f"im{i}.png" in captured.out
    import json

    report = json.loads((out / "results.json").read_text())
    assert len(report["images"]) == 3
    assert sorted(Path(p).name for p, _ in report["settings"]["skipped"]) == [
        "broken.png", "empty.jpg"]
    assert "Skipped 2 unreadable file(s)" in (out / "results.md").read_text()


def test_pipeline_skips_bad_files(mixed_folder):
    from rnan_keras.data.pipeline import make_dataset

    with pytest.warns(RuntimeWarning, match="skipping image"):  # noqa: PT031
        ds = make_dataset("dn_rgb", mixed_folder, patch_size=16, batch_size=3, sigma=25,
                          seed=0, repeat=False, augment=False)
        batches = list(ds)  # the undecodable file is found (and skipped) while iterating
    assert sum(int(b[0].shape[0]) for b in batches) == 3
    assert sorted(Path(p).name for p, _ in ds.stats.skipped) == ["broken.png", "empty.jpg"]


def test_train_on_only_broken_images_fails_clearly(broken_folder, tmp_path, capsys):
    out = tmp_path / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["train", "dn_rgb", "--train-dir", str(broken_folder), "--patch-size", "8",
                     "--batch-size", "2", "--sigma", "25", "--n-feats", "8", "--n-resgroups",
                     "2", "--steps", "2", "--out", str(out), "--no-tensorboard"])
    err = capsys.readouterr().err
    assert code == 2, err
    errors = [line for line in err.splitlines() if line.startswith("rnan train: error:")]
    assert len(errors) == 1 and str(broken_folder) in errors[0], err
    assert "Traceback" not in err
    assert not (out / "model.keras").exists()  # no untrained model presented as a result


def test_cli_warnings_are_one_line_and_name_the_file(corpus, tiny_model_file, tmp_path, capsys):
    gray = corpus["gray16.png"].path
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        code = main(["restore", str(gray), "-o", str(tmp_path / "o.png"), "--model",
                     str(tiny_model_file), "-q"])
    err = capsys.readouterr().err
    assert code == 0
    lines = [line for line in err.splitlines() if "gray image given to a colour model" in line]
    assert len(lines) == 1, err
    assert lines[0].startswith("rnan restore: warning:") and "gray16.png" in lines[0]
    assert "restore(" not in err  # no source line of a Python warning


@pytest.mark.parametrize("command", ["restore", "eval", "export", "train"])
def test_unknown_preset_on_every_command(mixed_folder, tmp_path, capsys, command):
    argv = {
        "restore": ["restore", str(mixed_folder / "im0.png"), "-o", str(tmp_path / "o.png"),
                    "--preset", "no_such_preset"],
        "eval": ["eval", "--task", "dn_rgb", "--data", str(mixed_folder), "--sigma", "25",
                 "--preset", "no_such_preset", "--out", str(tmp_path / "r")],
        "export": ["export", "--preset", "no_such_preset", "--format", "tflite", "-o",
                   str(tmp_path / "m.tflite")],
        "train": ["train", "dn_rgb", "--train-dir", str(mixed_folder), "--sigma", "25",
                  "--init-preset", "no_such_preset", "--out", str(tmp_path / "run"),
                  "--steps", "1"],
    }[command]
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith(f"rnan {command}: error:"), err
    assert "no_such_preset" in lines[0]
    assert not any(p.suffix in (".png", ".tflite", ".json") for p in tmp_path.rglob("*"))
