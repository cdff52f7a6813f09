"""Tests of rnan_keras/export/manifest.py: checksums of files and directories."""

from __future__ import annotations

import hashlib
import json

import pytest

from rnan_keras.errors import ModelLoadError
from rnan_keras.export.manifest import (
    check_checksum,
    manifest_path,
    read_manifest,
    sha256_of,
    write_manifest,
)


def test_file_sha256_is_sha256_of_bytes(tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(b"abc" * 1000)
    assert sha256_of(path) == hashlib.sha256(b"abc" * 1000).hexdigest()


def test_directory_sha256_is_order_independent_and_content_sensitive(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for root, order in ((a, ["x", "sub/y"]), (b, ["sub/y", "x"])):
        for name in order:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(name.encode())
    assert sha256_of(a) == sha256_of(b)
    expected = hashlib.sha256()
    for rel in ("sub/y", "x"):
        expected.update(f"{rel}\0{hashlib.sha256(rel.encode()).hexdigest()}\n".encode())
    assert sha256_of(a) == expected.hexdigest()
    (b / "x").write_bytes(b"changed")
    assert sha256_of(a) != sha256_of(b)
    (b / "x").write_bytes(b"x")
    (b / "x").rename(b / "z")  # same bytes, different name
    assert sha256_of(a) != sha256_of(b)


def test_manifest_roundtrip_and_checks(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"onnx bytes")
    mpath = write_manifest(path, {"format": "onnx", "sha256": sha256_of(path)})
    assert mpath == manifest_path(path) == tmp_path / "model.onnx.manifest.json"
    assert read_manifest(path)["format"] == "onnx"
    check_checksum(path, read_manifest(path))
    path.write_bytes(b"onnx bytEs")
    with pytest.raises(ModelLoadError, match="corrupted or was modified"):
        check_checksum(path, read_manifest(path))


def test_missing_or_broken_manifest(tmp_path):
    path = tmp_path / "model.tflite"
    path.write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="no manifest"):
        read_manifest(path)
    manifest_path(path).write_text("{not json")
    with pytest.raises(ModelLoadError, match="not JSON"):
        read_manifest(path)
    manifest_path(path).write_text(json.dumps({"format": "tflite"}))
    with pytest.raises(ModelLoadError, match="sha256"):
        read_manifest(path)
