"""Untrusted and broken model / checkpoint files: refused with one line, no code runs.

``.keras`` files are opened with ``safe_mode=True`` everywhere (restore, export, fine-tuning
start points): a Lambda layer's Python bytecode or a config naming an arbitrary Python class
is refused before anything runs. Official checkpoints are read with ``allow_pickle=False``
(``.npz``) or ``torch.load(weights_only=True)`` (``.pt``).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from rnan_keras.cli.main import main
from rnan_keras.convert.official import convert, load_state_dict, to_official_state_dict
from rnan_keras.errors import CheckpointError, ModelLoadError
from rnan_keras.inference.restore import load_model_file


def _lambda_model_file(folder: Path, marker: Path) -> Path:
    """A .keras whose Lambda layer creates ``marker`` when it runs (it runs on rebuild)."""
    code = f"lambda t: (__import__('pathlib').Path({str(marker)!r}).touch(), t)[1]"
    x = keras.Input(shape=(None, None, 3))
    model = keras.Model(x, keras.layers.Lambda(eval(code))(x))
    marker.unlink()  # building the model ran the lambda once
    path = folder / "lambda.keras"
    model.save(path)
    return path


def _zip_model(path: Path, config) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", json.dumps({"keras_version": keras.__version__}))
        archive.writestr("model.weights.h5", b"")
    return path


@pytest.fixture(scope="module")
def bad_model_files(tmp_path_factory, tiny_model_file):
    """{name: path} of .keras files that are not usable models; and the marker file."""
    folder = tmp_path_factory.mktemp("bad_models")
    marker = folder / "CODE_RAN"
    files = {"lambda": _lambda_model_file(folder, marker)}
    files["popen_config"] = _zip_model(folder / "popen.keras", {
        "module": "subprocess", "class_name": "Popen", "registered_name": None,
        "config": {"args": ["touch", str(marker)]},
    })
    files["string_config"] = _zip_model(folder / "string_config.keras", {
        "module": "os", "class_name": "system", "registered_name": None,
        "config": f"touch {marker}",
    })
    files["dense_not_model"] = _zip_model(folder / "dense.keras", {
        "module": "keras.layers", "class_name": "Dense", "registered_name": None,
        "config": {"units": 3},
    })
    files["json_list"] = _zip_model(folder / "list.keras", [1, 2, 3])
    (folder / "text.keras").write_text("this is not a model\n")
    files["text"] = folder / "text.keras"
    (folder / "empty.keras").write_bytes(b"")
    files["empty"] = folder / "empty.keras"
    data = tiny_model_file.read_bytes()
    (folder / "truncated.keras").write_bytes(data[: len(data) // 2])
    files["truncated"] = folder / "truncated.keras"
    (folder / "folder.keras").mkdir()
    files["folder"] = folder / "folder.keras"
    files["missing"] = folder / "missing.keras"
    return files, marker


CASES = ["lambda", "popen_config", "string_config", "dense_not_model", "json_list", "text", "empty",
         "truncated", "folder", "missing"]


@pytest.mark.parametrize("case", CASES)
def test_restore_refuses_bad_keras_files(bad_model_files, case):
    files, marker = bad_model_files
    with pytest.raises(ModelLoadError) as info:
        load_model_file(files[case])
    message = str(info.value)
    assert files[case].name in message and "\n" not in message
    assert not marker.exists(), "code from the model file ran"


def test_lambda_refusal_says_why(bad_model_files):
    files, _ = bad_model_files
    with pytest.raises(ModelLoadError, match="lambda"):
        load_model_file(files["lambda"])


@pytest.mark.parametrize("case", ["lambda", "popen_config", "string_config", "dense_not_model",
                                  "truncated"])
def test_export_refuses_bad_keras_files(bad_model_files, tmp_path, capsys, case):
    files, marker = bad_model_files
    out = tmp_path / "m.tflite"
    code = main(["export", "--model", str(files[case]), "--format", "tflite", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rnan export: error:"), err
    assert files[case].name in lines[0]
    assert not marker.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("case", ["lambda", "popen_config", "string_config"])
def test_fine_tuning_start_point_is_loaded_safely(bad_model_files, tmp_path, case):
    from rnan_keras.training.config import TrainConfig
    from rnan_keras.training.trainer import _load_init_source

    files, marker = bad_model_files
    config = TrainConfig(task="dn_rgb", train_dir=str(tmp_path), out=str(tmp_path / "run"),
                         init_model=str(files[case]))
    with pytest.raises(ModelLoadError) as info:
        _load_init_source(config)
    assert files[case].name in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists()


# --------------------------------------------------------------------------- checkpoints


@pytest.fixture(scope="module")
def tiny_state(tiny_model) -> dict[str, np.ndarray]:
    return to_official_state_dict(tiny_model)


def test_tiny_state_dict_converts(tiny_state, tmp_path):
    """The well-formed checkpoint that the broken ones below are made from loads."""
    path = tmp_path / "tiny.npz"
    np.savez(path, **tiny_state)
    model = convert(path, variant="dn_rgb")
    assert model.rnan_config.n_feats == 8


def _broken_states(state: dict[str, np.ndarray]) -> dict[str, dict]:
    first = next(iter(state))
    conv = "head.0.weight"
    return {
        "renamed_key": {("x." + k if k == first else k): v for k, v in state.items()},
        "extra_key": {**state, "tail.99.weight": np.zeros(3, np.float32)},
        "missing_key": {k: v for k, v in state.items() if k != "tail.0.bias"},
        "no_head": {k: v for k, v in state.items() if k != conv},
        "1d_head": {**state, conv: np.zeros(8, np.float32)},
        "scalar_head": {**state, conv: np.float32(1.0)},
        "wrong_rank": {**state, "tail.0.weight": np.zeros((3, 8), np.float32)},
        "wrong_shape": {**state, "tail.0.weight": np.zeros((3, 8, 5, 5), np.float32)},
        "strings": {**state, "tail.0.bias": np.array(["a", "b", "c"])},
        "empty": {},
        "other_model": {"conv1.weight": np.zeros((4, 3, 3, 3), np.float32)},
    }


@pytest.mark.parametrize("case", ["renamed_key", "extra_key", "missing_key", "no_head",
                                  "1d_head", "scalar_head", "wrong_rank", "wrong_shape",
                                  "strings", "empty", "other_model"])
def test_npz_with_wrong_keys_or_shapes(tiny_state, tmp_path, case):
    path = tmp_path / f"{case}.npz"
    np.savez(path, **_broken_states(tiny_state)[case])
    with pytest.raises(CheckpointError) as info:
        convert(path, variant="dn_rgb")
    assert path.name in str(info.value) and "\n" not in str(info.value)


def test_crafted_header_does_not_build_a_huge_model(tmp_path, monkeypatch):
    """A small file claiming n_feats=20000 is refused before any model is built."""
    from rnan_keras.convert import official

    def trap(*args, **kwargs):
        raise AssertionError("build_model was called")

    monkeypatch.setattr(official, "build_model", trap)
    state = {"head.0.weight": np.zeros((20000, 3, 1, 1), np.float32),
             "body.0.body.0.RA_RB1.0.body.0.weight": np.zeros(9, np.float32)}
    path = tmp_path / "huge.npz"
    np.savez(path, **state)
    with pytest.raises(CheckpointError, match="cannot hold"):
        convert(path, variant="dn_rgb")


def test_npz_with_pickled_objects_is_refused(tmp_path):
    marker = tmp_path / "CODE_RAN"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    path = tmp_path / "pickle.npz"
    np.savez(path, **{"head.0.weight": np.array([Payload()], dtype=object)})
    with pytest.raises(CheckpointError, match="pickle.npz"):
        load_state_dict(path)
    assert not marker.exists()


@pytest.mark.parametrize("data", [b"", b"PK\x03\x04 truncated zip", b"plain text"],
                         ids=["empty", "truncated-zip", "text"])
def test_unreadable_npz(tmp_path, data):
    path = tmp_path / "bad.npz"
    path.write_bytes(data)
    with pytest.raises(CheckpointError, match="bad.npz"):
        load_state_dict(path)


def test_convert_cli_wrong_keys_is_one_line_and_writes_nothing(tiny_state, tmp_path, capsys):
    path = tmp_path / "wrong.npz"
    np.savez(path, **_broken_states(tiny_state)["extra_key"])
    out = tmp_path / "out.keras"
    code = main(["convert", str(path), str(out), "--variant", "dn_rgb"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "tail.99.weight" in lines[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wrong.npz"]


def test_pt_files(tiny_state, tmp_path):
    """With torch: wrong keys and pickled code are refused. Without: a clear one-liner."""
    path = tmp_path / "wrong.pt"
    try:
        import torch
    except ImportError:
        path.write_bytes(b"\x80\x02}q\x00.")  # any bytes: torch is needed to read them
        with pytest.raises(CheckpointError, match="needs PyTorch"):
            load_state_dict(path)
        pytest.skip("torch is not installed; .pt reading is covered where it is")
    state = _broken_states(tiny_state)["extra_key"]
    torch.save({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()}, path)
    with pytest.raises(CheckpointError, match="tail.99.weight"):
        convert(path, variant="dn_rgb")
    marker = tmp_path / "CODE_RAN"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    evil = tmp_path / "evil.pt"
    torch.save({"head.0.weight": Payload()}, evil)
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_state_dict(evil)
    assert not marker.exists()
