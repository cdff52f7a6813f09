"""Tests of exports/regenerate.py (the script that rebuilds the shipped exports)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import load_script


@pytest.fixture(scope="module")
def regenerate():
    return load_script("exports/regenerate.py")


@pytest.mark.slow
def test_regenerate_model_file_then_check(regenerate, dn_model, tmp_path, capsys):
    model_file = tmp_path / "tiny_dn.keras"
    dn_model.save(model_file)
    out = tmp_path / "exports"
    assert regenerate.main(["--model", str(model_file), "--formats", "tflite",
                            "--out", str(out)]) == 0
    index = json.loads((out / "index.json").read_text())["exports"]
    assert [(e["model"], e["export"], e["path"]) for e in index] == [
        ("tiny_dn", "tflite", "tiny_dn/tiny_dn.tflite")
    ]
    assert index[0]["max_abs_diff"] <= 1e-2
    assert (out / "tiny_dn" / "tiny_dn.tflite.manifest.json").is_file()

    assert regenerate.main(["--check", "--out", str(out)]) == 0
    tflite = out / "tiny_dn" / "tiny_dn.tflite"
    tflite.write_bytes(tflite.read_bytes()[:-10])
    assert regenerate.main(["--check", "--out", str(out)]) == 1
    assert "corrupted" in capsys.readouterr().out


def test_missing_model_file_fails_the_run(regenerate, tmp_path):
    with pytest.raises(SystemExit, match="1 export"):
        regenerate.main(["--model", str(tmp_path / "nope.keras"), "--formats", "onnx",
                         "--out", str(tmp_path / "out")])
