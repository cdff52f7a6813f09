"""Tests of ``rnan export`` (rnan_keras/cli/export.py)."""

from __future__ import annotations

import json

import pytest

from rnan_keras.cli.main import main
from rnan_keras.export.manifest import manifest_path, sha256_of


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    from rnan_keras.export.conditioning import conditioned_random_model

    path = tmp_path_factory.mktemp("model") / "tiny_dn.keras"
    conditioned_random_model("dn_rgb", n_feats=8, n_resgroups=2).save(path)
    return path


def test_export_model_file_to_tflite(model_file, tmp_path, capsys):
    out = tmp_path / "tiny.tflite"
    argv = ["export", "--model", str(model_file), "--format", "tflite", "-o", str(out),
            "--tile", "24", "--overlap", "4", "--probe-size", "17x23", "--json"]
    assert main(argv) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["format"] == "tflite" and manifest["variant"] == "dn_rgb"
    assert manifest["sha256"] == sha256_of(out)
    assert json.loads(manifest_path(out).read_text()) == manifest
    probe = manifest["parity"]["probes"][0]
    assert probe["input_shape"] == [1, 17, 23, 3] and probe["max_abs_diff"] <= 1e-2

    # Same target again: refused without --overwrite, with a one-line error.
    assert main(argv) == 2
    assert "already exists" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--model", "missing.keras", "--format", "onnx"], "not found"),
        (["--preset", "no_such_preset", "--format", "onnx"], "no_such_preset"),
        (["--model", "MODEL", "--format", "tflite", "--tile", "25"], "even"),
    ],
)
def test_export_errors_are_one_line(model_file, tmp_path, capsys, extra, message):
    extra = [str(model_file) if a == "MODEL" else a for a in extra]
    assert main(["export", *extra, "-o", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnan export: error:") and message in err
    assert not (tmp_path / "x").exists()


def test_export_help_lists_formats(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["export", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "savedmodel,tflite,onnx" in out and "serving_default" in out


def test_bad_probe_size_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["export", "--model", "m.keras", "--format", "onnx", "-o", "x",
              "--probe-size", "17by23"])
    assert exc.value.code == 2
    assert "HxW" in capsys.readouterr().err


@pytest.mark.slow
def test_sigterm_during_export_leaves_nothing(model_file, tmp_path):
    """A killed export (SIGTERM) removes its staging folder and writes no file."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    cmd = [sys.executable, "-m", "rnan_keras.cli.main", "export", "--model", str(model_file),
           "--format", "onnx", "-o", str(out_dir / "m.onnx"), "--tile", "24", "--overlap", "4",
           "--probe-size", "17x23"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    deadline = time.monotonic() + 120
    while not any(out_dir.iterdir()) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "export finished before it could be interrupted"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()[-500:]
    assert list(out_dir.iterdir()) == []


def test_sigterm_during_import_is_deferred_until_the_import_ends(tmp_path, monkeypatch):
    """A SIGTERM landing inside an import is raised after it, not inside it.

    Raising inside an import can abort the process while a C extension initialises
    (SIGABRT, staging folder left behind). The module below sends SIGTERM to this process
    from its own top-level code, then keeps running; it must finish importing, and the
    interrupt must come once the import has returned.
    """
    import importlib
    import sys
    import time

    from rnan_keras.cli.export import sigterm_as_interrupt

    name = "_rnan_sigterm_probe_module"
    (tmp_path / f"{name}.py").write_text(
        "import os, signal, time\n"
        "os.kill(os.getpid(), signal.SIGTERM)\n"
        "deadline = time.monotonic() + 0.5\n"
        "while time.monotonic() < deadline:\n"
        "    pass\n"
        "FINISHED = True\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    reached_after_import = []
    with pytest.raises(KeyboardInterrupt), sigterm_as_interrupt():
        importlib.import_module(name)
        reached_after_import.append(True)
        time.sleep(30)  # the re-sent signal interrupts this
    assert sys.modules[name].FINISHED
    assert reached_after_import == [True]
    sys.modules.pop(name, None)


def test_sigterm_outside_an_import_interrupts_at_once():
    import os
    import signal
    import time

    from rnan_keras.cli.export import sigterm_as_interrupt

    before = signal.getsignal(signal.SIGTERM)
    slept = []
    with pytest.raises(KeyboardInterrupt), sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
        slept.append(True)
    assert slept == []  # the handler raised during the sleep
    assert signal.getsignal(signal.SIGTERM) is before
