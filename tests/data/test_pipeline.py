"""make_dataset / make_eval_dataset: shapes, determinism, bad input handling."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from rnan_keras.data.pipeline import make_dataset, make_eval_dataset
from rnan_keras.errors import ConfigError, ImageReadError


def _write_images(folder: Path, n: int = 4, size=(40, 52), gray_every: int = 3) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        arr = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        img = Image.fromarray(arr)
        if i % gray_every == gray_every - 1:
            img = img.convert("L")
        path = folder / f"img{i}.{'png' if i % 2 else 'bmp'}"
        img.save(path)
        paths.append(path)
    return paths


@pytest.fixture()
def clean_dir(tmp_path):
    _write_images(tmp_path / "clean")
    return tmp_path / "clean"


@pytest.mark.parametrize(
    "task,kwargs,channels,scale",
    [
        ("dn_gray", {"sigma": 25}, 1, 1),
        ("dn_rgb", {"sigma": (0, 50)}, 3, 1),
        ("demosaic", {}, 3, 1),
        ("car", {"quality": (10, 40)}, 1, 1),
        ("sr_x2", {}, 3, 2),
    ],
)
def test_shapes_and_dtypes(clean_dir, task, kwargs, channels, scale):
    ds = make_dataset(task, clean_dir, patch_size=16, batch_size=3, seed=0, **kwargs)
    degraded, clean = next(iter(ds))
    assert degraded.dtype == tf.float32 and clean.dtype == tf.float32
    assert degraded.shape == (3, 16, 16, channels)
    assert clean.shape == (3, 16 * scale, 16 * scale, channels)
    assert ds.stats.files_used == 4 and ds.stats.n_skipped == 0
    c = clean.numpy()
    assert c.min() >= 0 and c.max() <= 255 and np.array_equal(c, np.round(c))
    if task == "sr_x2":  # LR is the bicubic down-scale of the HR patch (away from borders)
        from rnan_keras.data.resize import imresize

        want = imresize(c, 0.5, quantize=True).numpy()
        np.testing.assert_allclose(degraded.numpy()[:, 3:-3, 3:-3], want[:, 3:-3, 3:-3],
                                   atol=1.0)


def test_deterministic_with_seed(clean_dir):
    def batches(seed):
        ds = make_dataset("dn_rgb", clean_dir, patch_size=16, batch_size=2, sigma=(5, 30),
                          seed=seed)
        return [tuple(t.numpy() for t in b) for b in ds.take(5)]

    a, b, c = batches(3), batches(3), batches(4)
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert any(not np.array_equal(xa, xc) for (xa, _), (xc, _) in zip(a, c, strict=True))


def test_one_pass_without_repeat(clean_dir):
    ds = make_dataset("demosaic", clean_dir, patch_size=8, batch_size=3, repeat=False, seed=0)
    sizes = [int(x.shape[0]) for x, _ in ds]
    assert sizes == [3, 1]


def test_files_list_and_too_small_images_skipped(tmp_path):
    paths = _write_images(tmp_path / "a", n=2, size=(40, 52))
    paths += _write_images(tmp_path / "b", n=1, size=(10, 60))
    with pytest.warns(RuntimeWarning, match="smaller"):
        ds = make_dataset("dn_rgb", paths, patch_size=16, batch_size=2, sigma=10, seed=0)
    assert ds.stats.files_used == 2 and ds.stats.n_skipped == 1
    next(iter(ds))


def test_unreadable_files_are_skipped_and_counted(clean_dir):
    (clean_dir / "garbage.png").write_bytes(b"this is not an image")
    good = (clean_dir / "img1.png").read_bytes()
    (clean_dir / "truncated.png").write_bytes(good[: len(good) // 2])  # header ok, data cut
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = make_dataset("dn_gray", clean_dir, patch_size=16, batch_size=2, sigma=10, seed=0)
        batches = list(ds.take(6))  # more than one epoch: no crash
    assert len(batches) == 6
    skipped = sorted(Path(p).name for p, _ in ds.stats.skipped)
    assert skipped == ["garbage.png", "truncated.png"]
    assert sum("garbage.png" in str(w.message) for w in caught) == 1
    assert sum("truncated.png" in str(w.message) for w in caught) >= 1


def test_clear_errors(tmp_path, clean_dir):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageReadError, match="no image files"):
        make_dataset("dn_rgb", tmp_path / "empty", sigma=10)
    with pytest.raises(ImageReadError, match="no such"):
        make_dataset("dn_rgb", tmp_path / "missing", sigma=10)
    with pytest.raises(ConfigError, match="unknown task"):
        make_dataset("deblur", clean_dir)
    with pytest.raises(ConfigError, match="sigma"):
        make_dataset("dn_rgb", clean_dir)
    with pytest.raises(ImageReadError, match="usable"), pytest.warns(RuntimeWarning):
        make_dataset("sr_x4", clean_dir, patch_size=48)  # 192 px crops > 40x52 images


def test_eval_fixed_noise_and_names(clean_dir):
    def run():
        ds = make_eval_dataset("dn_rgb", clean_dir, sigma=25, seed=0, with_names=True)
        return [(x.numpy(), y.numpy(), n.numpy().decode()) for x, y, n in ds]

    a, b = run(), run()
    assert [n for *_, n in a] == ["img0.bmp", "img1.png", "img2.bmp", "img3.png"]
    for (xa, ya, _), (xb, _, _) in zip(a, b, strict=True):
        assert xa.shape == ya.shape == (1, 40, 52, 3)
        np.testing.assert_array_equal(xa, xb)
    assert not np.array_equal(a[0][0] - a[0][1], a[1][0] - a[1][1])  # per-image noise


def test_eval_sr_equals_matlab_lr_files(shared_dir):
    root = shared_dir / "data" / "testsets" / "Set5"
    made = make_eval_dataset("sr_x3", root / "HR", with_names=True)
    read = make_eval_dataset("sr_x3", root / "HR", degraded_dir=root / "LR_bicubic" / "X3")
    for (lr, hr, name), (lr_file, hr2) in zip(made, read, strict=True):
        assert hr.shape[1] % 3 == 0 and hr.shape[2] % 3 == 0, name
        np.testing.assert_array_equal(hr.numpy(), hr2.numpy())
        np.testing.assert_array_equal(lr.numpy(), lr_file.numpy())


def test_train_sets_smoke(shared_dir):
    ds = make_dataset("dn_gray", shared_dir / "data" / "train" / "Train400", patch_size=40,
                      batch_size=4, sigma=25, seed=0, cache=False, shuffle=False)
    x, y = next(iter(ds))
    assert x.shape == y.shape == (4, 40, 40, 1)
    assert ds.stats.files_used == 400


def _locate(big: np.ndarray, patch: np.ndarray) -> tuple[int, int]:
    """Position of ``patch`` inside ``big`` (exhaustive search; random content is unique)."""
    ph, pw = patch.shape[:2]
    for i in range(big.shape[0] - ph + 1):
        for j in range(big.shape[1] - pw + 1):
            if np.array_equal(big[i: i + ph, j: j + pw], patch):
                return i, j
    raise AssertionError("patch not found in the image")


@pytest.mark.parametrize("task,scale", [("sr_x2", 2), ("sr_x3", 3), ("car", 1)])
def test_patches_equal_crops_of_whole_image_degradation(tmp_path, task, scale):
    from rnan_keras.data.degradations import degrade as degrade_fn
    from rnan_keras.data.degradations import prepare_clean

    rng = np.random.default_rng(1)
    arr = rng.integers(0, 256, (41, 55, 3), dtype=np.uint8)  # not a multiple of the scale
    Image.fromarray(arr).save(tmp_path / "one.png")
    clean = prepare_clean(task, arr.astype(np.float32)).numpy()
    h, w = clean.shape[0] // scale * scale, clean.shape[1] // scale * scale
    clean = clean[:h, :w]
    whole = degrade_fn(task, clean, quality=20).numpy()
    ds = make_dataset(task, tmp_path, patch_size=8, batch_size=4, seed=5, augment=False,
                      quality=20)
    lr, hr = (t.numpy() for t in next(iter(ds)))
    positions = set()
    for k in range(4):
        i, j = _locate(clean, hr[k])
        assert i % scale == 0 and j % scale == 0
        if task == "car":
            assert i % 8 == 0 and j % 8 == 0
        positions.add((i, j))
        np.testing.assert_array_equal(lr[k], whole[i // scale: i // scale + 8,
                                                   j // scale: j // scale + 8])
    assert len(positions) > 1


@pytest.mark.parametrize("task", ["sr_x2", "car"])
def test_augmentation_applies_the_same_transform(clean_dir, task):
    from rnan_keras.data.degradations import degrade as degrade_fn

    ds = make_dataset(task, clean_dir, patch_size=16, batch_size=8, seed=2, quality=30)
    lr, hr = (t.numpy() for t in next(iter(ds)))
    # the degradation of the augmented clean patch agrees with the degraded patch (away from
    # the patch border for SR; JPEG is not exactly flip-invariant, so on average for car)
    redo = degrade_fn(task, hr, quality=30).numpy()
    if task == "car":
        assert np.abs(lr - redo).mean() < 0.5 * np.abs(lr - hr).mean()
    else:
        np.testing.assert_allclose(lr[:, 3:-3, 3:-3], redo[:, 3:-3, 3:-3], atol=1.0)


def test_saturation_augmentation_scales_the_clean_patch_before_the_mosaic(clean_dir):
    from rnan_keras.data.degradations import degrade as degrade_fn

    def first(**kw):
        ds = make_dataset("demosaic", clean_dir, patch_size=16, batch_size=4, seed=5, **kw)
        return [t.numpy() for t in next(iter(ds))]

    _, plain = first()
    mosaic, sat = first(saturation=(2.0, 2.0))
    # the same crops and flips, each saturated by exactly 2 (tf's uint8 HSV round trip)
    want = tf.image.adjust_saturation(tf.constant(plain.astype(np.uint8)), 2.0).numpy()
    np.testing.assert_array_equal(sat, want)

    def chroma(x):
        return (x - x.mean(-1, keepdims=True)).std()

    assert chroma(sat) > 1.2 * chroma(plain)
    # the mosaic is taken of the saturated patch
    np.testing.assert_array_equal(mosaic, degrade_fn("demosaic", sat).numpy())
    # a range draws one factor per patch, within it
    _, drawn = first(saturation=(0.0, 1.0))
    assert chroma(drawn) < chroma(plain)


def test_saturation_augmentation_errors(clean_dir):
    with pytest.raises(ConfigError, match="colour task"):
        make_dataset("dn_gray", clean_dir, sigma=25, saturation=(1, 2))
    with pytest.raises(ConfigError, match="0 <= low <= high"):
        make_dataset("demosaic", clean_dir, saturation=(2, 1))
