"""evaluate(restore_fn=...) measures a classical method under the model's protocol."""

from __future__ import annotations

import numpy as np
import pytest

import rnan_keras
from rnan_keras.data.degradations import imresize
from rnan_keras.inference.evaluate import evaluate
from rnan_keras.inference.restore import restore_array


@pytest.fixture()
def images(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(2):
        arr = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
        Image.fromarray(arr).save(tmp_path / f"im{i}.png")
    return tmp_path


def test_identity_is_the_noisy_baseline(images):
    result, _ = evaluate(None, "dn_rgb", images, sigma=25, restore_fn=lambda x: x, tile=None)
    m = result.mean()
    assert m["psnr"] == m["baseline_psnr"] and m["ssim"] == m["baseline_ssim"]
    assert result.settings["model"] == "<lambda>" and result.settings["measured_on"] == "RGB"


def test_bicubic_function_is_the_sr_baseline(images):
    result, _ = evaluate(None, "sr_x2", images,
                         restore_fn=lambda x: np.asarray(imresize(x, 2.0)), tile=None)
    assert [r.psnr for r in result.images] == [r.baseline_psnr for r in result.images]


def test_same_numbers_as_the_model_path(images):
    model = rnan_keras.build_model("dn_rgb", n_feats=8, n_resgroups=2)
    direct, _ = evaluate(model, "dn_rgb", images, sigma=15, tile=None)
    via_fn, _ = evaluate(None, "dn_rgb", images, sigma=15, tile=None,
                         restore_fn=lambda x: restore_array(model, x, tile=None))
    assert [r.psnr for r in direct.images] == [r.psnr for r in via_fn.images]
    # and a different restoration gives different numbers (the function is really used)
    worse, _ = evaluate(None, "dn_rgb", images, sigma=15, tile=None,
                        restore_fn=lambda x: x + 10.0)
    assert worse.mean()["psnr"] != direct.mean()["psnr"]


def test_without_baseline_only_the_baseline_is_missing(images):
    fn = lambda x: x + 3.0
    full, _ = evaluate(None, "dn_rgb", images, sigma=25, restore_fn=fn, tile=None)
    bare, _ = evaluate(None, "dn_rgb", images, sigma=25, restore_fn=fn, tile=None,
                       with_baseline=False)
    assert [r.psnr for r in bare.images] == [r.psnr for r in full.images]
    assert all(r.baseline_psnr is not None for r in full.images)
    assert [(r.baseline_psnr, r.baseline_ssim) for r in bare.images] == [(None, None)] * 2
    assert bare.mean()["baseline_psnr"] is None
    assert "| - | - |" in bare.to_markdown()


def test_warmup_runs_the_first_image_once_untimed(images, monkeypatch):
    """warmup=True restores image 0 once before the timed loop; its cost is not counted.

    A fake clock that only the restoring function advances: the first call costs 10
    "seconds" (one-time set-up), every later call 1.
    """
    import rnan_keras.inference.evaluate as ev

    now = [0.0]
    calls: list[np.ndarray] = []

    def fn(x):
        calls.append(x.copy())
        now[0] += 10.0 if len(calls) == 1 else 1.0
        return x + 3.0

    monkeypatch.setattr(ev.time, "time", lambda: now[0])
    cold, _ = evaluate(None, "dn_rgb", images, sigma=25, restore_fn=fn, tile=None)
    assert [r.seconds for r in cold.images] == [10.0, 1.0] and len(calls) == 2

    calls.clear()
    warm, _ = evaluate(None, "dn_rgb", images, sigma=25, restore_fn=fn, tile=None, warmup=True)
    assert [r.seconds for r in warm.images] == [1.0, 1.0]
    assert len(calls) == 3 and np.array_equal(calls[0], calls[1])  # image 0, twice
    assert not np.array_equal(calls[1], calls[2])
    assert [r.psnr for r in warm.images] == [r.psnr for r in cold.images]
    assert warm.settings["warmup"] is True and cold.settings["warmup"] is False
