"""Tests of rnan_keras/export/exporter.py and loading.py: export -> load in the format's own
runtime -> parity with Keras, manifest, corruption, verify-before-write.

Exports are made once per format (module-scoped fixtures) from tiny, well-conditioned
random models; tile 24 makes the 17x23 probe a single tile (equal to the plain Keras model)
and the 24x32 probe two tiles (equal to the Keras model under ``predict_tiled``, the tiled
inference of ``rnan restore``, with the same tile and overlap).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import tensorflow as tf

import rnan_keras
from rnan_keras.errors import ConfigError, ExportError, ModelLoadError
from rnan_keras.export import load_exported
from rnan_keras.export.formats import FORMATS, SUFFIXES
from rnan_keras.export.manifest import manifest_path, sha256_of
from rnan_keras.inference.tiling import predict_tiled

from .conftest import OVERLAP, SIZES, TILE, make_image

FLOAT32_TOLERANCE = 1e-2


def _target(tmp_path_factory, stem: str, fmt: str):
    name = stem + (SUFFIXES[fmt] or "_savedmodel")
    return tmp_path_factory.mktemp(stem) / name


def run_native(fmt: str, path, x: np.ndarray) -> np.ndarray:
    """Run an export directly in its runtime (not through rnan_keras' runners)."""
    if fmt == "savedmodel":
        fn = tf.saved_model.load(str(path)).signatures["serving_default"]
        return fn(image=tf.constant(x))["output"].numpy()
    if fmt == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(path))
        inp = interpreter.get_input_details()[0]
        interpreter.resize_tensor_input(inp["index"], x.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["output"], {"image": x})[0]


def keras_reference(model, x: np.ndarray) -> np.ndarray:
    """The Keras model as ``rnan restore`` runs it with the export's tiling (the plain model
    when ``x`` fits one tile)."""
    h, w = x.shape[1:3]
    if h <= TILE and w <= TILE:
        return model(x).numpy()
    return predict_tiled(model, x, TILE, OVERLAP)


@pytest.fixture(scope="module", params=FORMATS)
def dn_export(request, dn_model, tmp_path_factory):
    fmt = request.param
    target = _target(tmp_path_factory, "dn_rgb", fmt)
    result = rnan_keras.export(
        dn_model, target, fmt, tile=TILE, overlap=OVERLAP, probe_sizes=SIZES
    )
    return fmt, result


@pytest.mark.parametrize("size,batch", [(SIZES[0], 1), (SIZES[1], 2)])
def test_parity_in_native_runtime(dn_export, dn_model, size, batch):
    fmt, result = dn_export
    x = make_image(*size, batch=batch, seed=batch)
    got = run_native(fmt, result.path, x)
    want = keras_reference(dn_model, x)
    assert got.shape == want.shape == x.shape
    assert np.abs(got - want).max() <= FLOAT32_TOLERANCE
    assert np.abs(got - x).max() > 1.0  # the model does change the image


def test_signature_has_dynamic_batch_height_width(dn_export):
    fmt, result = dn_export
    if fmt == "savedmodel":
        fn = tf.saved_model.load(str(result.path)).signatures["serving_default"]
        spec = fn.structured_input_signature[1]["image"]
        assert spec.shape.as_list() == [None, None, None, 3] and spec.dtype == tf.float32
        assert list(fn.structured_outputs) == ["output"]
    elif fmt == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        inp = Interpreter(model_path=str(result.path)).get_input_details()[0]
        assert inp["shape_signature"].tolist() == [-1, -1, -1, 3]
        assert inp["dtype"] == np.float32
    else:
        import onnx

        model = onnx.load(str(result.path))
        dims = model.graph.input[0].type.tensor_type.shape.dim
        assert model.graph.input[0].name == "image" and model.graph.output[0].name == "output"
        assert [d.HasField("dim_value") for d in dims] == [False, False, False, True]
        assert dims[3].dim_value == 3
        assert {o.domain: o.version for o in model.opset_import}[""] == 17


def test_manifest_matches_file(dn_export, dn_model):
    fmt, result = dn_export
    m = result.manifest
    assert manifest_path(result.path).is_file()
    assert m["sha256"] == sha256_of(result.path)
    assert m["format"] == fmt and m["variant"] == "dn_rgb" and m["scale"] == 1
    assert m["config"] == dn_model.rnan_config.to_dict()
    assert m["signature"]["name"] == "serving_default"
    assert m["signature"]["input"] == {
        "name": "image", "dtype": "float32", "shape": [None, None, None, 3],
        "layout": "NHWC", "range": [0, 255],
    }
    assert m["tiling"] == {"tile": TILE, "overlap": OVERLAP}
    assert m["versions"]["tensorflow"] == tf.__version__
    assert m["opset"] == (17 if fmt == "onnx" else None)
    probes = m["parity"]["probes"]
    assert [tuple(p["input_shape"][1:3]) for p in probes] == SIZES
    assert all(p["max_abs_diff"] <= m["parity"]["tolerance"] == FLOAT32_TOLERANCE for p in probes)
    assert all(isinstance(p["psnr_change_db"], float) for p in probes)


def test_load_exported_runs_the_export(dn_export, dn_model):
    fmt, result = dn_export
    loaded = load_exported(result.path)
    assert loaded.format == fmt
    x = make_image(*SIZES[0])
    out = loaded(x[0])
    assert out.shape == x.shape[1:]
    assert np.abs(out - dn_model(x).numpy()[0]).max() <= FLOAT32_TOLERANCE


def _copy_export(result, folder):
    folder.mkdir()
    dst = folder / result.path.name
    if result.path.is_dir():
        shutil.copytree(result.path, dst)
    else:
        shutil.copy(result.path, dst)
    shutil.copy(result.manifest_path, manifest_path(dst))
    return dst


def test_corrupted_export_gives_clear_error(dn_export, tmp_path):
    _, result = dn_export
    dst = _copy_export(result, tmp_path / "copy")
    load_exported(dst)  # the intact copy loads
    victim = dst if dst.is_file() else max(
        (p for p in dst.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size
    )
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="corrupted or was modified"):
        load_exported(dst)


def test_unreadable_export_with_matching_manifest_gives_clear_error(dn_export, tmp_path):
    _, result = dn_export
    dst = _copy_export(result, tmp_path / "copy")
    if dst.is_dir():
        shutil.rmtree(dst)
        dst.mkdir()
    (dst / "saved_model.pb" if dst.is_dir() else dst).write_bytes(b"not a model at all")
    with pytest.raises(ModelLoadError, match="corrupted"):
        load_exported(dst)
    with pytest.raises(ModelLoadError, match="cannot open"):
        load_exported(dst, verify=False)


def test_missing_manifest_is_reported(dn_export, tmp_path):
    _, result = dn_export
    dst = _copy_export(result, tmp_path / "copy")
    manifest_path(dst).unlink()
    with pytest.raises(ModelLoadError, match="no manifest"):
        load_exported(dst)


@pytest.fixture(scope="module")
def sr_export(sr_model, tmp_path_factory):
    target = _target(tmp_path_factory, "sr_x2", "tflite")
    return rnan_keras.export(sr_model, target, "tflite", tile=TILE, overlap=OVERLAP,
                             probe_sizes=SIZES)


@pytest.mark.parametrize("size", SIZES)
def test_sr_parity_tflite(sr_export, sr_model, size):
    x = make_image(*size)
    got = run_native("tflite", sr_export.path, x)
    want = keras_reference(sr_model, x)
    assert got.shape == (1, 2 * size[0], 2 * size[1], 3) == want.shape
    assert np.abs(got - want).max() <= FLOAT32_TOLERANCE
    assert sr_export.manifest["scale"] == 2


@pytest.mark.slow
def test_tflite_reduced_precision_is_reported(dn_model, tmp_path):
    shas = {}
    for quant in ("float16", "dynamic_int8"):
        result = rnan_keras.export(
            dn_model, tmp_path / f"dn_{quant}.tflite", "tflite", quantization=quant,
            tile=TILE, overlap=OVERLAP, probe_sizes=[SIZES[0]],
        )
        m = result.manifest
        assert m["quantization"] == quant and m["parity"]["tolerance"] is None
        probe = m["parity"]["probes"][0]
        assert 0 < probe["max_abs_diff"] < 5.0  # lossy, but close on this model
        assert isinstance(probe["psnr_change_db"], float)
        x = make_image(*SIZES[0])
        assert np.abs(run_native("tflite", result.path, x) - dn_model(x).numpy()).max() < 5.0
        shas[quant] = result.manifest["sha256"]
    assert shas["float16"] != shas["dynamic_int8"]


def test_uint8_savedmodel_and_overwrite(dn_model, tmp_path):
    target = tmp_path / "dn_uint8"
    target.mkdir()
    (target / "stale.txt").write_text("old")
    with pytest.raises(ExportError, match="already exists"):
        rnan_keras.export(dn_model, target, "savedmodel")
    result = rnan_keras.export(dn_model, target, "savedmodel", uint8=True, tile=TILE,
                               overlap=OVERLAP, probe_sizes=[SIZES[0]], overwrite=True)
    assert not (target / "stale.txt").exists()
    assert result.manifest["signature"]["input"]["dtype"] == "uint8"
    x = np.clip(np.round(make_image(*SIZES[0])), 0, 255).astype(np.uint8)
    got = run_native("savedmodel", target, x)
    assert got.dtype == np.uint8
    want = np.clip(np.round(dn_model(x.astype(np.float32)).numpy()), 0, 255)
    assert np.abs(got.astype(np.float32) - want).max() <= 1
    # load_exported rounds and clips float input for a uint8 export.
    loaded = load_exported(target)
    np.testing.assert_array_equal(loaded(x[0].astype(np.float32) + 0.3), got[0])
    assert loaded(np.full((4, 6, 3), 300.0))[0].dtype == np.uint8


def test_failed_verification_writes_nothing(dn_model, tmp_path, monkeypatch):
    """A runtime that disagrees with Keras makes export fail and leave no file behind."""
    from rnan_keras.export.formats import savedmodel

    def fake_write(serving, path, **options):
        path.mkdir()
        (path / "saved_model.pb").write_bytes(b"stub")
        return {}

    class WrongRunner:
        def __call__(self, image):
            return dn_model(image).numpy() + 0.5

    monkeypatch.setattr(savedmodel, "write", fake_write)
    monkeypatch.setattr(savedmodel, "load", lambda path, num_threads=None: WrongRunner())
    target = tmp_path / "out" / "dn_savedmodel"
    with pytest.raises(ExportError, match="differs from the Keras model by up to 0.5"):
        rnan_keras.export(dn_model, target, "savedmodel", tile=TILE, overlap=OVERLAP,
                          probe_sizes=[SIZES[0]])
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"format": "pt"}, "unknown export format"),
        ({"format": "onnx", "quantization": "float16"}, "tflite only"),
        ({"format": "tflite", "quantization": "int4"}, "unknown TFLite quantization"),
        ({"format": "onnx", "opset": 19}, "opset"),
        ({"format": "tflite", "tile": 25}, "even"),
    ],
)
def test_bad_options_are_rejected_before_converting(dn_model, tmp_path, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        rnan_keras.export(dn_model, tmp_path / "x", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_model_file_that_is_not_a_model(tmp_path):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"garbage")
    with pytest.raises(ModelLoadError):
        rnan_keras.export(str(bad), tmp_path / "x.onnx", "onnx")


def test_package_name_calls_the_function_after_subpackage_import():
    import rnan_keras.export.manifest

    assert callable(rnan_keras.export)
    with pytest.raises(ConfigError, match="unknown export format"):
        rnan_keras.export(None, "unused", "pt")


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_windowed_attention_exports_with_partial_windows(fmt, tmp_path):
    """``non_local_window=7`` on 24-pixel tiles and a 17 x 23 probe: windows cut at the
    border, whose padding size the graph computes (ONNX once got it wrong: its modulo of a
    negative number has C's sign). Parity on one tile and on two."""
    from rnan_keras.export.conditioning import conditioned_random_model

    model = conditioned_random_model("dn_rgb", n_feats=8, n_resgroups=2, non_local_window=7)
    result = rnan_keras.export(model, _target_dir(tmp_path, fmt), fmt, tile=TILE,
                               overlap=OVERLAP, probe_sizes=SIZES)
    for size in SIZES:
        x = make_image(*size)
        got, want = run_native(fmt, result.path, x), keras_reference(model, x)
        assert np.abs(got - want).max() <= FLOAT32_TOLERANCE
        assert np.abs(got - x).max() > 1.0


def _target_dir(tmp_path, fmt):
    return tmp_path / ("windowed" + (SUFFIXES[fmt] or "_savedmodel"))
