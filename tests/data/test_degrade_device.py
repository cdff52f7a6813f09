"""Device-side degradation: make_dataset(degrade="device") + dataset.degrade_fn against the
host path, and every degradation of the train step compiled with XLA against plain TF."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from rnan_keras.data.degradations import degrade
from rnan_keras.data.mosaic import BAYER_PATTERNS, bayer_mosaic
from rnan_keras.data.noise import add_gaussian_noise, stateless_normal_per_image, threefry2x32
from rnan_keras.data.pipeline import SR_MARGIN, degrade_patches, make_dataset
from rnan_keras.data.resize import imresize, resize_weights
from rnan_keras.errors import ConfigError

U = 2.0**-24  # float32 unit round-off

TASKS = {  # task: degradation settings (ranges: drawn per patch)
    "dn_gray": {"sigma": (0.0, 50.0)},
    "dn_rgb": {"sigma": 25.0},
    "demosaic": {},
    "car": {"quality": (10, 40)},
    "sr_x2": {},
    "sr_x3": {},
    "sr_x4": {},
}


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clean")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:72, 0:80]
    for i in range(3):  # smooth ramps plus texture, not multiples of 8 or of the SR scales
        base = (yy * (i + 1) + xx * 2)[..., None] % 256 + rng.integers(0, 40, (72, 80, 3))
        Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)[: 69 + i, : 77 - i]).save(
            folder / f"img{i}.png")
    return folder


@pytest.fixture(scope="module")
def batches(image_dir):
    """``batches(task, mode)`` -> (dataset, its first two batches), made once per module."""
    made = {}

    def get(task, mode):
        if (task, mode) not in made:
            ds = make_dataset(task, image_dir, patch_size=16, batch_size=4, seed=7,
                              degrade=mode, **TASKS[task])
            made[task, mode] = ds, list(ds.take(2))
        return made[task, mode]

    return get


def _psnr(a, b) -> float:
    mse = np.mean((np.asarray(a, np.float64) - b) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.mark.parametrize("task", list(TASKS))
def test_host_and_device_give_the_same_batches(batches, task):
    _, host = batches(task, "host")
    ds, dev = batches(task, "device")
    step = tf.function(ds.degrade_fn)  # as in a (non-XLA) train step
    scale = int(task[-1]) if task.startswith("sr") else 1
    channels = 1 if task in ("dn_gray", "car") else 3
    for (x_host, y_host), batch in zip(host, dev, strict=True):
        assert batch["clean"].dtype == tf.uint8  # a quarter of the float32 transfer
        side = (16 + 2 * SR_MARGIN) * scale if scale > 1 else 16
        assert batch["clean"].shape == (4, side, side, channels)
        x_dev, y_dev = step(batch)
        np.testing.assert_array_equal(y_dev, y_host)
        assert x_dev.shape == x_host.shape == (4, 16, 16, channels)
        if task == "car":
            assert batch["quality"].dtype == tf.int32 and batch["quality"].shape == (4,)
            # Same patches and qualities: libjpeg on the device batch is the host batch ...
            libjpeg, _ = degrade_patches(task, batch, jpeg="libjpeg")
            np.testing.assert_array_equal(libjpeg, x_host)
            # ... and the tensor-ops JPEG agrees with it as tests/data/test_jpeg_ops.py
            # requires of it against Pillow.
            diff = np.abs(x_dev.numpy() - x_host.numpy())
            assert np.mean(diff <= 1) >= 0.99 and _psnr(x_dev, x_host) >= 45.0
        else:
            np.testing.assert_array_equal(x_dev, x_host)
        if task.startswith("dn"):
            assert batch["sigma"].shape == (4,) and batch["seed"].shape == (4, 2)


def test_device_elements_and_errors(batches, image_dir):
    batch = batches("dn_gray", "device")[1][0]
    assert set(batch) == {"clean", "sigma", "seed"}
    sigma = batch["sigma"].numpy()
    assert np.all((sigma >= 0) & (sigma <= 50)) and len(set(sigma.tolist())) == 4
    assert len({tuple(s) for s in batch["seed"].numpy().tolist()}) == 4  # one seed a patch
    assert set(batches("sr_x2", "device")[1][0]) == {"clean"}
    with pytest.raises(ConfigError, match="degrade mode"):
        make_dataset("dn_rgb", image_dir, sigma=10, degrade="gpu")
    with pytest.raises(ConfigError, match="Bayer pattern"):
        make_dataset("demosaic", image_dir, pattern="RGBG", degrade="device")


def test_threefry_known_answers_and_xla():
    # Random123's known-answer vectors of Threefry-2x32, 20 rounds: (counter, key) -> out.
    vectors = [((0, 0), (0, 0), (0x6B200159, 0x99BA4EFE)),
               ((0xFFFFFFFF,) * 2, (0xFFFFFFFF,) * 2, (0x1CB996FC, 0xBB002BE7)),
               ((0x243F6A88, 0x85A308D3), (0x13198A2E, 0x03707344), (0xC4923A9C, 0x483DF7A0))]
    ctr, key, want = (tf.constant(list(v), tf.uint32) for v in zip(*vectors, strict=True))
    ctr, key = tf.transpose(ctr), tf.transpose(key)

    def fn(key, ctr):
        return tf.stack(threefry2x32((key[0], key[1]), (ctr[0], ctr[1])))

    np.testing.assert_array_equal(fn(key, ctr), tf.transpose(want))
    np.testing.assert_array_equal(tf.function(fn, jit_compile=True)(key, ctr),
                                  tf.transpose(want))  # integer ops: the same bits under XLA


def _noise_tol(sigma: np.ndarray, noisy: np.ndarray) -> np.ndarray:
    """Bound of |XLA - plain| for ``x + sigma z`` (sigma per image [B]).

    The uniforms are the same bits (Threefry); z = r cos t (or sin), r = sqrt(-2 ln u1) <=
    sqrt(48 ln 2). XLA's and Eigen's float32 log / cos / sin differ by a few ulp (k <= 4; 3
    measured here): |dr| <= r (k u + 2 u) (the relative error of ln, halved by the sqrt, plus
    its rounding), |dcos| <= k u, the product rounds (2 u r): |dz| <= r u (2 k + 4). Then
    sigma z rounds (2 u sigma r) and the sum with x rounds (one spacing of the result).
    """
    r_max, k = np.sqrt(48 * np.log(2)), 4
    per_image = np.reshape(sigma, (-1, 1, 1, 1)) * r_max * U * (2 * k + 6)
    return per_image + np.spacing(np.abs(noisy).astype(np.float32))


def test_noise_compiles_with_xla_and_matches_within_round_off():
    seeds = tf.constant([[1, 2], [-3, 2**31 - 1], [5, 0]], tf.int32)
    sigma = tf.constant([5.0, 25.0, 50.0])
    x = tf.constant(np.random.default_rng(0).uniform(0, 255, (3, 40, 24, 3)), tf.float32)

    def fn(x, sigma, seeds):
        return add_gaussian_noise(x, sigma, seed=seeds)

    plain = fn(x, sigma, seeds).numpy()
    xla = tf.function(fn, jit_compile=True)(x, sigma, seeds).numpy()
    z = stateless_normal_per_image(tf.shape(x), seeds).numpy()
    np.testing.assert_array_equal(plain, x.numpy() + sigma.numpy()[:, None, None, None] * z)
    # Per image, the noise depends on its own seed only, not on the batch around it.
    np.testing.assert_array_equal(z[1], stateless_normal_per_image([1, 40, 24, 3],
                                                                   seeds[1:2])[0])
    assert abs(z.mean()) < 0.05 and abs(z.std() - 1) < 0.03
    assert np.all(np.abs(xla - plain) <= _noise_tol(sigma.numpy(), plain))


@pytest.mark.parametrize("pattern", BAYER_PATTERNS)
def test_bayer_mosaic_compiles_with_xla_exactly(pattern):
    x = tf.constant(np.random.default_rng(1).uniform(0, 255, (2, 13, 10, 3)), tf.float32)
    fn = tf.function(lambda t: bayer_mosaic(t, pattern), jit_compile=True)
    # a product with a 0/1 mask: exact in any order
    np.testing.assert_array_equal(fn(x), bayer_mosaic(x, pattern))


def _pass_bound(in_len: int, scale: float) -> tuple[float, int]:
    """(max row sum of |w|, max taps per row) of one Matlab bicubic pass."""
    w = np.abs(resize_weights(in_len, int(np.ceil(in_len * scale)), scale).numpy())
    return float(w.sum(axis=1).max()), int((w > 0).sum(axis=1).max())


def _near_half(values: np.ndarray, tol: float) -> int:
    """How many values lie within ``tol`` of a rounding boundary (k + 1/2)."""
    frac = values - np.floor(values)
    return int(np.sum(np.abs(frac - 0.5) <= tol))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_compiles_with_xla_within_round_off(scale):
    h, w = 22 * scale, 17 * scale
    x = np.random.default_rng(scale).integers(0, 256, (2, h, w, 3)).astype(np.float32)
    (s1, t1), (s2, t2) = _pass_bound(h, 1 / scale), _pass_bound(w, 1 / scale)

    def fn(x, quantize):
        return imresize(x, 1 / scale, quantize=quantize)

    # Unquantised: each pass is a float32 dot product of <= t taps; two evaluation orders
    # differ by <= 2 gamma_t sum|w x| (gamma_t = t u / (1 - t u)), plus 2 u for the weights
    # (float64 -> float32, possibly rounded differently); pass 2 carries pass 1's error
    # through its weights (s2) and adds its own on values up to 255 s1.
    def gamma(t):
        return t * U / (1 - t * U)

    e1 = 255 * s1 * (2 * gamma(t1) + 2 * U)
    tol = s2 * e1 + 255 * s1 * s2 * (2 * gamma(t2) + 2 * U)
    plain = fn(x, False).numpy()
    xla = tf.function(fn, jit_compile=True)(x, False).numpy()
    assert np.abs(xla - plain).max() <= tol

    # Quantised (the SR protocol: uint8 after each pass): a rounding can flip by one level
    # only where the value before it lies within that pass's error of k + 1/2; a flip in
    # pass 1 moves <= t2 outputs of pass 2 by < 1 level each.
    plain_q = fn(x, True).numpy()
    xla_q = tf.function(fn, jit_compile=True)(x, True).numpy()
    rows = imresize(x, (1 / scale, 1.0)).numpy()  # pass 1 alone (pass 2 is the identity)
    pass2 = imresize(np.clip(np.floor(rows + 0.5), 0, 255), (1.0, 1 / scale)).numpy()
    allowed = t2 * _near_half(rows, e1) + _near_half(pass2, tol)
    diff = np.abs(xla_q - plain_q)
    assert diff.max() <= 1 and np.sum(diff > 0) <= allowed
    np.testing.assert_array_equal(plain_q, degrade(f"sr_x{scale}", x).numpy())


def test_jpeg_ops_compile_with_xla_with_one_quality_per_image():
    x = tf.constant(np.random.default_rng(2).integers(0, 256, (3, 24, 21, 1)), tf.float32)
    q = tf.constant([10, 25, 40])

    def fn(x, q):
        return degrade("car", x, quality=q, jpeg="tf")

    # As tests/data/test_jpeg_ops.py: integer encoder, then the decoder's rounded float IDCT.
    np.testing.assert_array_equal(tf.function(fn, jit_compile=True)(x, q), fn(x, q))
    with pytest.raises(ConfigError, match="JPEG backend"):
        degrade("car", x, quality=q, jpeg="pillow")


@pytest.mark.parametrize("task", ["dn_rgb", "car", "sr_x3"])
def test_whole_device_step_compiles_with_xla(batches, task):
    ds, [batch, _] = batches(task, "device")
    x_plain, y_plain = (t.numpy() for t in ds.degrade_fn(batch))
    x_xla, y_xla = (t.numpy() for t in tf.function(ds.degrade_fn, jit_compile=True)(batch))
    np.testing.assert_array_equal(y_xla, y_plain)
    diff = np.abs(x_xla - x_plain)
    if task == "dn_rgb":
        assert np.all(diff <= _noise_tol(batch["sigma"].numpy(), x_plain))
    elif task == "car":
        np.testing.assert_array_equal(x_xla, x_plain)  # as the JPEG test above
    else:  # integer levels: at most a one-level rounding flip (see the bicubic test)
        assert diff.max() <= 1
