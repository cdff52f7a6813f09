"""Tests of rnan_keras/export/files.py: staging folder and atomic placement."""

from __future__ import annotations

import json
import os

import pytest

from rnan_keras.export.files import place, staging_dir, write_json


def test_staging_dir_is_beside_target_and_removed(tmp_path):
    target = tmp_path / "out" / "model.onnx"
    with pytest.raises(RuntimeError), staging_dir(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".model.onnx.")
        (tmp / "partial").write_bytes(b"half")
        raise RuntimeError("conversion failed")
    assert list(target.parent.iterdir()) == []


def test_place_file_and_directory_replace_existing(tmp_path):
    target_file = tmp_path / "m.tflite"
    target_file.write_bytes(b"old")
    new_file = tmp_path / "new"
    new_file.write_bytes(b"new")
    place(new_file, target_file)
    assert target_file.read_bytes() == b"new" and not new_file.exists()

    target_dir = tmp_path / "sm"
    (target_dir / "variables").mkdir(parents=True)
    (target_dir / "old.pb").write_bytes(b"old")
    with staging_dir(target_dir) as tmp:
        staged = tmp / "sm"
        staged.mkdir()
        (staged / "saved_model.pb").write_bytes(b"new")
        place(staged, target_dir)
    assert sorted(p.name for p in target_dir.iterdir()) == ["saved_model.pb"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tflite", "sm"]


def test_write_json_atomic(tmp_path):
    path = tmp_path / "a.json"
    write_json(path, {"x": 1})
    assert json.loads(path.read_text()) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600
