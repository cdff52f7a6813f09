"""``scripts/train_presets.py``: held-out split, budgeted training that resumes, shipping."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tests.conftest import load_script


@pytest.fixture()
def tp(monkeypatch):
    module = load_script("scripts/train_presets.py")
    monkeypatch.setitem(module.RECIPE, "ckpt_every", 2)
    monkeypatch.setitem(module.RECIPE, "cpu_batch", 2)
    return module


@pytest.fixture()
def folder(tmp_path):
    from PIL import Image

    src = tmp_path / "CBSD432"
    src.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (100, 110, 3), np.uint8)).save(src / f"{i}.png")
    return src


def test_earlier_training_kept_for_the_same_state_summed_for_a_new_one(tp):
    previous = {"state": "s/a", "init_from": "preset:a", "steps": 30, "wall_time_s": 3.0,
                "earlier_training": {"steps": 100, "wall_time_s": 10.0}}
    # continued: same folder, same start
    assert tp.earlier_training(previous, {"state": "s/a", "init_from": "preset:a"}) == \
        {"steps": 100, "wall_time_s": 10.0}
    assert tp.earlier_training(previous, {"state": "s/b", "init_from": "preset:a"}) == \
        {"steps": 130, "wall_time_s": 13.0}
    assert tp.earlier_training(previous, {"state": "s/b", "init_from": None}) is None
    widened = {"state": "s/a", "init_from": "preset:a widened to n_feats 24"}  # a new run there
    assert tp.earlier_training(previous, widened) == {"steps": 130, "wall_time_s": 13.0}


def test_split_holds_out_the_last_images_as_centre_crops(tp, folder, tmp_path):
    train, val = tp.split_folder(folder, tmp_path / "work", 2)
    assert sorted(p.name for p in train.iterdir()) == ["0.png", "1.png", "2.png", "3.png"]
    crops = sorted(val.iterdir())
    assert [p.name for p in crops] == ["4.png", "5.png"]
    from PIL import Image

    with Image.open(folder / "5.png") as im, Image.open(crops[1]) as crop:
        assert crop.size == (96, 96)
        np.testing.assert_array_equal(np.asarray(crop), np.asarray(im)[2:98, 7:103])
    with pytest.raises(SystemExit, match="need more than"):
        tp.split_folder(folder, tmp_path / "work2", 6)


def test_data_options_train_and_validate_with_saturated_patches(tp, folder, tmp_path,
                                                                monkeypatch):
    import tensorflow as tf
    from PIL import Image

    monkeypatch.setattr(tp, "DATA_OPTIONS", {"demosaic_small": {"saturation": [1.0, 2.0]}})
    train, val = tp.split_folder(folder, tmp_path / "work", 2)
    assert tp.val_folder("dn_rgb_small", val) == val  # no data options: the plain crops
    sat_val = tp.val_folder("demosaic_small", val)
    names = sorted(p.name for p in sat_val.iterdir())
    assert names == ["4.png", "4_sat.png", "5.png", "5_sat.png"]
    with Image.open(val / "5.png") as a, Image.open(sat_val / "5_sat.png") as b:
        want = tf.image.adjust_saturation(tf.constant(np.asarray(a)), 1.5).numpy()
        np.testing.assert_array_equal(np.asarray(b), want)
    registry = json.loads(tp.REGISTRY.read_text())
    cfg = tp.make_config("demosaic_small", registry["demosaic_small"], tmp_path / "run", train,
                         sat_val, False, 10, 64)
    assert cfg.saturation == [1.0, 2.0] and cfg.val_dir == str(sat_val)
    cfg = tp.make_config("car_small", registry["car_small"], tmp_path / "run2", train, val,
                         False, 10, 64)
    assert cfg.saturation is None


def test_a_wider_config_widens_the_start_preset(tp, folder, tmp_path, monkeypatch):
    registry = json.loads(tp.REGISTRY.read_text())
    entry = registry["dn_rgb_small"]
    train, val = tp.split_folder(folder, tmp_path / "work", 2)
    cfg = tp.make_config("dn_rgb_small", entry, tmp_path / "run", train, val, False, 10, 64)
    assert not cfg.widen and cfg.init_preset == "dn_rgb_small"
    wider = entry["config"]["n_feats"] + 8
    monkeypatch.setitem(tp.PRESETS, "dn_rgb_small",
                        ("CBSD432", {"n_feats": wider}, "dn_rgb_small"))
    cfg = tp.make_config("dn_rgb_small", entry, tmp_path / "run", train, val, False, 10, 64)
    assert cfg.widen and cfg.model["n_feats"] == wider and cfg.init_preset == "dn_rgb_small"
    assert cfg.validate() is cfg


def test_budgeted_training_resumes_and_ships(tp, folder, tmp_path, monkeypatch):
    registry = json.loads(tp.REGISTRY.read_text())
    data = tp.split_folder(folder, tmp_path / "work", 2)
    run = tmp_path / "state" / "sr_x4_small"
    first = tp.train_for("sr_x4_small", registry["sr_x4_small"], run, data, 1.0, False, 64,
                         "test CPU")
    assert first["steps"] == 2 and first["init_from"] == "preset sr_x4_small" \
        or first["init_from"].endswith("sr_x4_small")
    second = tp.train_for("sr_x4_small", registry["sr_x4_small"], run, data, 1.0, False, 64,
                          "test CPU")
    assert second["steps"] == 4 and second["resumed_from_step"] == 2
    sessions = json.loads((run / "sessions.json").read_text())
    assert [(x["from_step"], x["to_step"], x["device"]) for x in sessions] == \
        [(0, 2, "test CPU"), (2, 4, "test CPU")]
    n_feats = registry["sr_x4_small"]["config"]["n_feats"]
    assert [x["n_feats"] for x in sessions] == [n_feats, n_feats]
    assert sessions[1]["lr"] == f"{tp.RECIPE['lr']:g} halved every " \
        f"{tp.RECIPE['lr_decay_steps']:,} steps: {tp.RECIPE['lr']:.4g} from step 2"
    assert "note" not in sessions[1]
    assert json.loads((run / "config.json").read_text())["batch_size"] == 2

    # ship into a copy of the registry
    reg = tmp_path / "presets" / "presets.json"
    (reg.parent / "weights").mkdir(parents=True)
    shutil.copy(tp.REGISTRY, reg)
    monkeypatch.setattr(tp, "REGISTRY", reg)
    monkeypatch.setattr(tp, "ROOT", tmp_path)
    import keras

    # the comparison uses the trainer's validation: the best model scores its logged best
    best = keras.models.load_model(run / "best.keras", compile=False)
    assert tp.held_out_psnr(best, run, data[1]) == pytest.approx(second["best_val_psnr"],
                                                                 abs=1e-6)
    before = reg.read_text()
    monkeypatch.setattr(tp, "held_out_psnr", lambda model, *a: 30.0 if model is best else 31.0)
    monkeypatch.setattr(keras.models, "load_model", lambda *a, **k: best)
    tp.ship(["sr_x4_small"], tmp_path / "state", "test CPU", {"sr_x4_small": data[1]})
    assert reg.read_text() == before  # worse than the shipped weights: kept
    monkeypatch.setattr(tp, "held_out_psnr", lambda model, *a: 32.0 if model is best else 31.0)
    tp.ship(["sr_x4_small"], tmp_path / "state", "the shipping CPU", {"sr_x4_small": data[1]})
    entry = json.loads(reg.read_text())["sr_x4_small"]
    assert entry["training"]["sessions"] == sessions
    assert entry["training"]["held_out_psnr_vs_previous"] == [32.0, 31.0]
    t = entry["training"]
    assert t["steps"] == 4 and t["machine"] == "test CPU" and t["state"] == "state/sr_x4_small"
    assert t["train_data"] == "data/train/CBSD432: the first 4 images by name"
    assert t["val_data"].endswith("crops of the last 2 images by name (held out)")
    shipped = registry["sr_x4_small"]["training"]  # a new state that started from the preset
    earlier = shipped["steps"] + ((shipped.get("earlier_training") or {}).get("steps") or 0)
    assert t["earlier_training"]["steps"] == earlier
    row = next(line for line in tp.report(json.loads(reg.read_text())).splitlines()
               if line.startswith("| `sr_x4_small`"))
    assert f"| 4 + {earlier:,} |" in row and row.endswith(f"dB ({entry['training']['best_step']}) |")
    from rnan_keras.presets.registry import sha256_file

    assert entry["sha256"] == sha256_file(reg.parent / "weights" / entry["weights"])

    # a fresh checkout has no best.keras (not committed): the latest checkpoint is offered
    (run / "best.keras").unlink()
    monkeypatch.undo()  # the real load_model again; REGISTRY etc. are set anew below
    monkeypatch.setattr(tp, "REGISTRY", reg)
    monkeypatch.setattr(tp, "ROOT", tmp_path)
    scores = iter([33.0, 32.0])  # the candidate first, then the shipped preset
    monkeypatch.setattr(tp, "held_out_psnr", lambda model, *a: next(scores))
    tp.ship(["sr_x4_small"], tmp_path / "state", "the shipping CPU", {"sr_x4_small": data[1]})
    entry = json.loads(reg.read_text())["sr_x4_small"]
    t = entry["training"]
    assert t["weights_from"].startswith("checkpoint ckpt-00000004.npz")
    assert t["best_step"] == 4 and t["held_out_psnr_vs_previous"] == [33.0, 32.0]
    from rnan_keras import build_model
    from rnan_keras.training.checkpoint import CheckpointManager

    shipped = build_model("sr_x4", **json.loads((run / "config.json").read_text())["model"])
    shipped.load_weights(reg.parent / "weights" / entry["weights"])
    ckpt = CheckpointManager.load(run / "checkpoints" / "ckpt-00000004.npz")
    for a, b in zip(shipped.get_weights(), ckpt.model_weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_stopped_turn_ends_the_run(tp, folder, tmp_path, monkeypatch, capsys):
    calls, options = [], []

    def fake_train_for(name, *args, **kwargs):
        calls.append(name)
        options.append(kwargs)
        return {"status": "stopped", "stopped_by": "SIGTERM", "steps": 6}

    monkeypatch.setattr(tp, "train_for", fake_train_for)
    assert tp.main(["--presets", "sr_x2_small,sr_x3_small", "--budget-minutes", "30",
                    "--rounds", "2", "--train-root", str(tmp_path), "--val-images", "2",
                    "--state-dir", str(tmp_path / "state"),
                    "--work-dir", str(tmp_path / "work"), "--lr", "3e-5",
                    "--note", "a test"]) == 0
    assert calls == ["sr_x2_small"]  # neither the next preset nor the next round
    assert options == [{"lr": 3e-5, "lr_decay_steps": None, "note": "a test"}]
    assert "[sr_x2_small] stopped by SIGTERM at step 6" in capsys.readouterr().out


def test_train_rounds_shares_the_time_left_and_ends_under_a_minute(tp, monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(tp.time, "monotonic", lambda: clock[0])
    calls = []

    def turn(name, seconds):
        calls.append((name, round(seconds, 6)))
        clock[0] += seconds * (2.0 if name == "a" else 1.0)  # "a" overruns its share 2x
        return {"status": "ok"}

    tp.train_rounds(["a", "b"], 2, 800.0, turn)
    # 800 s over 4 turns: a gets 200 (spends 400); b gets 400/3 of the 400 left over 3
    # turns; a gets half of the 800/3 left (spends all of it); b's last turn has 0 s left.
    assert calls == [("a", 200.0), ("b", round(400 / 3, 6)), ("a", round(400 / 3, 6))]


def test_a_resumed_state_keeps_its_schedule_unless_told(tp, folder, tmp_path):
    registry = json.loads(tp.REGISTRY.read_text())
    entry = registry["car_small"]
    data = tp.split_folder(folder, tmp_path / "work", 2)
    run = tmp_path / "state" / "car_small"
    fresh = tp.make_config("car_small", entry, run, *data, False, 10, 64)
    assert (fresh.lr, fresh.lr_decay_steps) == (tp.RECIPE["lr"], tp.RECIPE["lr_decay_steps"])
    # a first session with its own schedule, then one that resumes it without options
    tp.train_for("car_small", entry, run, data, 1.0, False, 64, "test CPU", lr=1e-5,
                 lr_decay_steps=3, note="first")
    resumed = tp.make_config("car_small", entry, run, *data, False, 10, 64)
    assert (resumed.lr, resumed.lr_decay_steps) == (1e-5, 3)
    told = tp.make_config("car_small", entry, run, *data, False, 10, 64, lr=4e-5)
    assert (told.lr, told.lr_decay_steps) == (4e-5, 3)
    second = tp.train_for("car_small", entry, run, data, 1.0, False, 64, "test CPU",
                          note="second")
    assert second["final_lr"] == pytest.approx(1e-5 * 0.5 ** (4 // 3))
    sessions = json.loads((run / "sessions.json").read_text())
    assert [(x["from_step"], x["to_step"], x["note"]) for x in sessions] == \
        [(0, 2, "first"), (2, 4, "second")]
    # steps 2 and 3 ran: 1e-5 * 0.5 ** 0 at step 2, 1e-5 * 0.5 ** 1 from step 3
    assert sessions[1]["lr"] == "1e-05 halved every 3 steps: 1e-05 from step 2, 5e-06 from 3"

    # a third session changes the schedule on resume: config.json now holds only the
    # new one (by which step 2 would have had 1e-5 * 0.5 ** 2), the record keeps what ran
    tp.train_for("car_small", entry, run, data, 1.0, False, 64, "test CPU", lr_decay_steps=1)
    assert json.loads((run / "config.json").read_text())["lr_decay_steps"] == 1
    from make_presets import make_preset

    t = make_preset("car_small", run, {}, tmp_path)["training"]
    assert "lr_halved_every" not in t
    # logged after steps 2, 4, 6: 1e-5 * 0.5 ** (2 // 3), * 0.5 ** (4 // 3), * 0.5 ** (6 // 1)
    assert t["lr_logged"] == [[2, 1e-5], [4, 5e-6], [6, pytest.approx(1e-5 * 0.5 ** 6)]]


def test_lr_logged_lists_each_new_rate_of_the_curve(tp):
    from make_presets import lr_logged

    f32 = [float(np.float32(x)) for x in (5e-5, 2.5e-5, 1.25e-5)]  # as train.csv holds them
    rows = [{"step": 500, "lr": f32[0]}, {"step": 1000, "lr": f32[0]},
            {"step": 5000, "lr": f32[1]}, {"step": 10000, "lr": f32[2]},
            {"step": 10500, "lr": None}, {"step": 12000, "lr": f32[1]}]
    assert lr_logged(rows) == [[500, 5e-5], [5000, 2.5e-5], [10000, 1.25e-5], [12000, 2.5e-5]]
    assert lr_logged([]) == []


def test_lr_text_names_each_rate_of_a_session(tp):
    from types import SimpleNamespace

    cfg = SimpleNamespace(lr=5e-5, effective_decay_steps=5000)
    assert tp.lr_text(cfg, 17_961, 20_661) == \
        "5e-05 halved every 5,000 steps: 6.25e-06 from step 17,961, 3.125e-06 from 20,000"
    assert tp.lr_text(cfg, 0, 5000) == "5e-05 halved every 5,000 steps: 5e-05 from step 0"


def _ship_scored(tp, tmp_path, monkeypatch, data, **how):
    """Ship sr_x4_small from ``tmp_path / "state"`` into a copy of the registry, with the
    held-out score faked (candidate 32 dB, shipped 31); -> (weights of every scored model,
    the new registry entry)."""
    reg = tmp_path / "presets" / "presets.json"
    (reg.parent / "weights").mkdir(parents=True)
    shutil.copy(tp.REGISTRY, reg)
    monkeypatch.setattr(tp, "REGISTRY", reg)
    monkeypatch.setattr(tp, "ROOT", tmp_path)
    seen = []

    def scored(model, *args):  # the candidate is scored first, then the shipped weights
        seen.append([w.copy() for w in model.get_weights()])
        return 32.0 if len(seen) == 1 else 31.0

    monkeypatch.setattr(tp, "held_out_psnr", scored)
    tp.ship(["sr_x4_small"], tmp_path / "state", "test CPU", {"sr_x4_small": data[1]}, **how)
    return seen, json.loads(reg.read_text())["sr_x4_small"]


def _assert_shipped_weights(tmp_path, entry, seen) -> None:
    """The weights file written for ``entry`` holds the first scored model's weights."""
    import rnan_keras

    shipped = rnan_keras.build_model("sr_x4", **entry["config"])
    shipped.load_weights(tmp_path / "presets" / "weights" / entry["weights"])
    for got, want in zip(shipped.get_weights(), seen[0], strict=True):
        np.testing.assert_array_equal(got, want)


def test_ship_can_offer_the_mean_of_the_best_and_the_shipped_weights(tp, folder, tmp_path,
                                                                      monkeypatch):
    import keras

    import rnan_keras

    registry = json.loads(tp.REGISTRY.read_text())
    data = tp.split_folder(folder, tmp_path / "work", 2)
    run = tmp_path / "state" / "sr_x4_small"
    tp.train_for("sr_x4_small", registry["sr_x4_small"], run, data, 1.0, False, 64, "test CPU")
    best = keras.models.load_model(run / "best.keras", compile=False).get_weights()
    before = rnan_keras.load_preset("sr_x4_small").get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(best, before))  # it trained

    seen, entry = _ship_scored(tp, tmp_path, monkeypatch, data, average_with_shipped=True)
    for got, a, b in zip(seen[0], best, before, strict=True):
        np.testing.assert_allclose(got, (a + b) / 2, rtol=0, atol=1e-7)
    assert entry["training"]["best_val_psnr"] == 32.0  # the averaged weights' score
    assert entry["training"]["weights_from"] == "mean of best.keras and the weights shipped " \
        f"before it (sha256 {registry['sr_x4_small']['sha256'][:12]})"
    _assert_shipped_weights(tmp_path, entry, seen)
    with pytest.raises(SystemExit):
        tp.main(["--average-with-shipped", "--budget-minutes", "1"])


def test_ship_can_offer_the_mean_of_chosen_checkpoints(tp, folder, tmp_path, monkeypatch):
    from rnan_keras.training.checkpoint import CheckpointManager

    registry = json.loads(tp.REGISTRY.read_text())
    monkeypatch.setitem(tp.RECIPE, "keep_checkpoints", 3)
    data = tp.split_folder(folder, tmp_path / "work", 2)
    run = tmp_path / "state" / "sr_x4_small"
    for _ in range(2):  # two turns: the second resumes, and both checkpoints are kept
        tp.train_for("sr_x4_small", registry["sr_x4_small"], run, data, 1.0, False, 64,
                     "test CPU")
    ckpts = dict(CheckpointManager(run / "checkpoints").list())
    steps = sorted(ckpts)[-2:]
    assert len(steps) == 2, f"the run kept {sorted(ckpts)}"
    a, b = (CheckpointManager.load(ckpts[s]).model_weights for s in steps)
    assert any(not np.array_equal(x, y) for x, y in zip(a, b))  # two different points

    seen, entry = _ship_scored(tp, tmp_path, monkeypatch, data, average_checkpoints=steps)
    for got, x, y in zip(seen[0], a, b, strict=True):
        want = (x.astype(np.float64) + y) / 2
        np.testing.assert_allclose(got, want, rtol=0,
                                   atol=np.spacing(np.abs(want).max().astype(np.float32)) / 2)
    assert entry["training"]["weights_from"] == \
        f"mean of the checkpoints at steps {steps[0]:,}, {steps[1]:,}"
    assert entry["training"]["best_val_psnr"] == 32.0  # the averaged weights' score
    _assert_shipped_weights(tmp_path, entry, seen)
    one = tp.averaged_checkpoints(run, [steps[0]])  # one step: that checkpoint itself
    assert one[1:] == (steps[0], f"the checkpoint at step {steps[0]:,}")
    for got, x in zip(one[0].get_weights(), a, strict=True):
        np.testing.assert_array_equal(got, x)
    with pytest.raises(SystemExit, match="no checkpoint at step"):
        tp.ship(["sr_x4_small"], tmp_path / "state", "test CPU", {"sr_x4_small": data[1]},
                average_checkpoints=[steps[-1] + 1])
    with pytest.raises(SystemExit):
        tp.main(["--average-checkpoints", "2", "--budget-minutes", "1"])
