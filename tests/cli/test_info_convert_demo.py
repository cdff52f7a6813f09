"""CLI: --help, info, convert and demo end to end (in-process, tiny inputs)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from rnan_keras.cli.main import main


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in ("info", "demo", "convert"):
        assert name in out


def test_info_prints_versions_and_variants(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "tensorflow" in out and "keras" in out
    assert "sr_x4" in out and "CPU" in out


def test_other_keras_backend_is_a_one_line_error(monkeypatch, capsys):
    """KERAS_BACKEND=jax (say, left over from scripts/train_jax.py) must not reach the
    TensorFlow code paths: one line, exit 2."""
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    assert main(["info"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "TensorFlow backend, not 'jax'" in err


def test_convert_writes_loadable_keras_model(tmp_path, official_dir, capsys):
    out = tmp_path / "sub" / "car.keras"
    assert main(["convert", str(official_dir / "car_small.npz"), str(out), "--variant", "car"]) == 0
    assert "562,769 parameters" in capsys.readouterr().out
    model = keras.models.load_model(out, safe_mode=True)
    with np.load(official_dir / "car_small.npz") as data:
        x = data["__input_0"].transpose(0, 2, 3, 1)
        want = data["__output_0"].transpose(0, 2, 3, 1)
    assert np.abs(model(x, training=False).numpy() - want).max() <= 1e-3
    # refuses to overwrite, and leaves no temporary file behind
    assert main(["convert", str(official_dir / "car_small.npz"), str(out), "--variant", "car"]) == 2
    assert "exists" in capsys.readouterr().err
    assert sorted(p.name for p in out.parent.iterdir()) == ["car.keras"]


def test_convert_errors_are_one_line(tmp_path, official_dir, capsys):
    code = main(["convert", str(official_dir / "dn_rgb_small.npz"), str(tmp_path / "m.keras")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "--variant" in err
    assert not (tmp_path / "m.keras").exists()


def test_demo_writes_before_after(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "restored PSNR" in out
    from PIL import Image

    with Image.open(tmp_path / "before_after.png") as pic:
        assert pic.size == (3 * 192 + 2 * 4, 192)
    assert {p.name for p in tmp_path.iterdir()} == {"noisy.png", "restored.png", "before_after.png"}
