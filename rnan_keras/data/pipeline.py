"""tf.data pipelines that synthesise (degraded, clean) pairs from a folder of clean images.

:func:`make_dataset` (training): list files -> decode (Pillow, in parallel) -> clean target
for the task (gray / Y / RGB, see :func:`~rnan_keras.data.degradations.prepare_clean`) ->
optional in-memory cache -> repeat -> shuffle -> random crop -> random flip and 90-degree
rotation -> per-patch degradation settings -> batch -> degradation -> prefetch.

The degradation is one function, :func:`degrade_patches` (built on
:func:`~rnan_keras.data.degradations.degrade`), applied to a batch of clean uint8 patches and
their per-patch settings (``sigma`` and a noise ``seed`` for denoising, ``quality`` for JPEG).
``degrade="host"`` applies it in the ``tf.data`` map, on the host CPU; ``degrade="device"``
leaves it out and attaches it to the dataset as ``dataset.degrade_fn``, for the trainer to call
inside its compiled train step on whatever device the model runs on. For the same seed both
paths feed it the same batches, so they give the same (degraded, clean) pairs, except that the
device path codes JPEG with the tensor-ops encoder
(:func:`~rnan_keras.data.jpeg_ops.jpeg_compress_tf`, within one level of libjpeg on >= 99 %
of the pixels) and the host path with libjpeg (Pillow-exact).

The degradation follows the augmentation, so every pair is a true degradation of its clean
patch: JPEG crops start on the 8x8 block grid, and an SR patch carries ``SR_MARGIN`` LR pixels
of clean context on each side (mirrored at the image border as Matlab pads), so that its LR
patch equals the same crop of the whole (augmented) image's Matlab LR (see :func:`_sr_region`).
All randomness uses stateless ops seeded from ``seed`` and the element index, so a given seed
yields the same batches every time; the noise itself comes from per-patch seeds and a
generator that gives the same numbers with or without XLA
(:func:`~rnan_keras.data.noise.stateless_normal_per_image`).

:func:`make_eval_dataset` (evaluation): whole images, one per element (batch of 1), with a
fixed degradation seed per image index, or pre-made degraded images read from a folder.

Files that cannot be read are skipped with a :class:`RuntimeWarning` and counted in
``dataset.stats`` (a :class:`DatasetStats`); a bad file never stops an epoch. Images smaller
than the crop (``patch_size``, times the scale for SR) are *skipped*, also with a warning.
"""

from __future__ import annotations

import functools
import random
import threading
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from rnan_keras.data import degradations
from rnan_keras.data.degradations import TaskInfo, draw_setting, get_task, prepare_clean
from rnan_keras.data.image_io import IMAGE_EXTENSIONS, list_images, load_rgb
from rnan_keras.data.mosaic import bayer_masks
from rnan_keras.data.resize import symmetric_index
from rnan_keras.errors import ConfigError, ImageReadError

AUTOTUNE = tf.data.AUTOTUNE
#: Where :func:`make_dataset` degrades the batches: in ``tf.data`` or in the train step.
DEGRADE_MODES = ("host", "device")


@dataclass
class DatasetStats:
    """Book-keeping of a dataset: files found, files used, files skipped and why."""

    files_found: int = 0
    files_used: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def n_skipped(self) -> int:
        return len(self.skipped)

    def skip(self, path: str, reason: str) -> None:
        with self._lock:
            self.skipped.append((path, reason))
        warnings.warn(f"skipping image {path}: {reason}", RuntimeWarning, stacklevel=2)


def list_image_files(source: str | Path | Iterable[str | Path]) -> list[str]:
    """Image files of a folder (:func:`~rnan_keras.data.image_io.list_images`: the
    extensions of :data:`~rnan_keras.data.image_io.IMAGE_EXTENSIONS`, sorted, not recursive)
    or a list of paths.

    Raises:
        ImageReadError: the folder does not exist or holds no image file, or the list is empty.
    """
    if isinstance(source, str | Path):
        path = Path(source)
        if path.is_dir():
            files = [str(p) for p in list_images(path)]
            if not files:
                raise ImageReadError(
                    f"no image files ({', '.join(IMAGE_EXTENSIONS)}) found in folder {path}"
                )
            return files
        if path.is_file():
            return [str(path)]
        raise ImageReadError(f"no such file or folder: {path}")
    files = [str(p) for p in source]
    if not files:
        raise ImageReadError("the list of image files is empty")
    return files


def _header_size(path: str) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        return im.size  # (W, H)


def _check_files(files: Sequence[str], min_size: int, stats: DatasetStats) -> list[str]:
    """Keep files whose header opens and whose sides are >= min_size (warn about others)."""
    kept = []
    for path in files:
        try:
            w, h = _header_size(path)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is skipped
            stats.skip(path, f"cannot read header ({type(exc).__name__}: {exc})")
            continue
        if min(w, h) < min_size:
            stats.skip(path, f"{w}x{h} is smaller than the {min_size}x{min_size} crop")
            continue
        kept.append(path)
    return kept


def _tf_read(path: tf.Tensor, stats: DatasetStats):
    """Decode ``path`` inside tf.data -> (uint8 [H, W, 3], was_gray, ok); never raises."""

    def load(path_bytes):
        path_str = path_bytes.decode() if isinstance(path_bytes, bytes) else str(path_bytes)
        try:
            arr, gray = load_rgb(path_str)
            return arr, np.bool_(gray), np.bool_(True)
        except Exception as exc:  # noqa: BLE001 - a bad file must not stop the epoch
            stats.skip(path_str, f"cannot decode ({type(exc).__name__}: {exc})")
            return np.zeros((0, 0, 3), np.uint8), np.bool_(False), np.bool_(False)

    arr, gray, ok = tf.numpy_function(load, [path], [tf.uint8, tf.bool, tf.bool],
                                      stateful=False)
    arr.set_shape([None, None, 3])
    gray.set_shape([])
    ok.set_shape([])
    return arr, gray, ok


def _to_clean(arr: tf.Tensor, gray: tf.Tensor, task: TaskInfo) -> tf.Tensor:
    """uint8 RGB (+ was-gray flag) -> uint8 clean image of the task ([H, W, n_colors])."""
    x = tf.cast(arr, tf.float32)
    if task.n_colors == 1:
        x = tf.cond(gray, lambda: x[:, :, :1], lambda: prepare_clean(task.name, x))
    return tf.cast(x, tf.uint8)


def _decode_dataset(files: Sequence[str], task: TaskInfo, stats: DatasetStats) -> tf.data.Dataset:
    """Dataset of clean uint8 images [H, W, C] of the task; undecodable files are dropped."""
    ds = tf.data.Dataset.from_tensor_slices(list(files))
    ds = ds.map(lambda p: _tf_read(p, stats), num_parallel_calls=AUTOTUNE)
    ds = ds.filter(lambda arr, gray, ok: ok)
    return ds.map(lambda arr, gray, ok: _to_clean(arr, gray, task), num_parallel_calls=AUTOTUNE)


def _degrade_kwargs(task: TaskInfo, sigma, quality) -> dict:
    if task.setting == "sigma":
        if sigma is None:
            raise ConfigError(f"task {task.name!r} needs sigma (a number or a (low, high) range)")
        return {"sigma": tuple(sigma) if isinstance(sigma, list | tuple) else float(sigma)}
    if task.setting == "quality":
        if quality is None:
            raise ConfigError(f"task {task.name!r} needs quality (an int 1-100 or a (low, high) "
                              "range)")
        return {"quality": tuple(quality) if isinstance(quality, list | tuple) else int(quality)}
    return {}


def _augment(x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Random horizontal flip and rotation by k*90 degrees (8 dihedral variants)."""
    s1, s2 = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    flip = tf.random.stateless_uniform([], s1) < 0.5
    x = tf.cond(flip, lambda: tf.reverse(x, axis=[1]), lambda: x)
    k = tf.random.stateless_uniform([], s2, 0, 4, dtype=tf.int32)
    return tf.image.rot90(x, k)


JPEG_BLOCK = 8  # car crops start on the JPEG block grid of the full image
SR_MARGIN = 3  # LR pixels of context around an SR patch (cubic support is 2 LR pixels)


def _random_offset(limit: tf.Tensor, step: int, seed: tf.Tensor) -> tf.Tensor:
    """A multiple of ``step`` drawn uniformly from [0, limit]."""
    return step * tf.random.stateless_uniform([], seed, 0, limit // step + 1, dtype=tf.int32)


def _aligned_crop(image: tf.Tensor, size: int, step: int, seed: tf.Tensor) -> tf.Tensor:
    """Random ``size`` x ``size`` crop whose corner lies on a multiple of ``step``."""
    sy, sx = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    h, w = tf.shape(image)[0], tf.shape(image)[1]
    i = _random_offset(h - size, step, sy)
    j = _random_offset(w - size, step, sx)
    return image[i: i + size, j: j + size]


def _sr_region(image: tf.Tensor, patch: int, scale: int, seed: tf.Tensor) -> tf.Tensor:
    """A clean HR patch of ``s * patch`` pixels with ``SR_MARGIN`` LR pixels of context on
    each side: ``[(patch + 2 SR_MARGIN) s]`` square, from a random LR-aligned position.

    The image is cropped to a multiple of the scale (Matlab ``modcrop``), and context beyond
    its border is mirrored exactly as Matlab's ``imresize`` pads (:func:`symmetric_index`).
    The margin covers the cubic kernel's support (``2 s + 2`` HR pixels), so the Matlab LR of
    the region, cropped to its centre, equals the same crop of ``imresize(modcrop(HR), 1/s)``
    (up to the order of float additions where the border mirrors taps onto one pixel).
    """
    sy, sx = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    lr_h, lr_w = tf.shape(image)[0] // scale, tf.shape(image)[1] // scale
    i = _random_offset(lr_h - patch, 1, sy)
    j = _random_offset(lr_w - patch, 1, sx)
    side = (patch + 2 * SR_MARGIN) * scale
    rows = symmetric_index((i - SR_MARGIN) * scale + tf.range(side), lr_h * scale)
    cols = symmetric_index((j - SR_MARGIN) * scale + tf.range(side), lr_w * scale)
    return tf.gather(tf.gather(image, rows, axis=0), cols, axis=1)


def degrade_patches(task: str, batch: dict, *, jpeg: str = "libjpeg", pattern: str = "GRBG",
                    noise_clip: bool = False,
                    noise_round: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
    """Degrade a batch of :func:`make_dataset` ``degrade="device"`` -> (degraded, clean).

    The one degradation of the training pipeline, on the host (``tf.data``) and in the train
    step alike: plain tensor ops (with ``jpeg="tf"``) that compile with XLA.

    Args:
        task: the dataset's task.
        batch: ``{"clean": uint8 [B, n, n, C], ...}`` with the task's per-patch settings:
            ``"sigma"`` float32 [B] and ``"seed"`` int32 [B, 2] (noise) for ``dn_*``,
            ``"quality"`` int32 [B] for ``car``. For SR, ``"clean"`` holds the HR patch with
            ``SR_MARGIN`` LR pixels of context on each side (:func:`_sr_region`).
        jpeg: ``"libjpeg"`` (Pillow-exact, CPU) or ``"tf"`` (tensor ops, any device).
        pattern, noise_clip, noise_round: as in :func:`make_dataset`.

    Returns:
        float32 ``(degraded [B, p, p, C], clean [B, s p, s p, C])``, 0-255.
    """
    info = get_task(task)
    clean = tf.cast(batch["clean"], tf.float32)
    degraded = degradations.degrade(
        task, clean, sigma=batch.get("sigma"), quality=batch.get("quality"),
        seed=batch.get("seed"), pattern=pattern, clip=noise_clip, round_values=noise_round,
        jpeg=jpeg)
    if info.is_sr:  # drop the context: the centre of the LR region and of the clean region
        m, hm = SR_MARGIN, SR_MARGIN * info.scale
        lr_side, hr_side = tf.shape(degraded)[1], tf.shape(clean)[1]
        degraded = degraded[:, m: lr_side - m, m: lr_side - m]
        clean = clean[:, hm: hr_side - hm, hm: hr_side - hm]
    return degraded, clean


def make_dataset(
    task: str,
    clean_dir_or_files: str | Path | Iterable[str | Path],
    patch_size: int = 48,
    batch_size: int = 16,
    *,
    cache: bool = True,
    augment: bool = True,
    sigma: float | tuple[float, float] | None = None,
    quality: int | tuple[int, int] | None = None,
    repeat: bool = True,
    shuffle: bool = True,
    seed: int | None = None,
    pattern: str = "GRBG",
    noise_clip: bool = False,
    noise_round: bool = False,
    shuffle_buffer: int = 1024,
    drop_remainder: bool | None = None,
    degrade: str = "host",
    saturation: tuple[float, float] | None = None,
) -> tf.data.Dataset:
    """Training dataset of (degraded, clean) float32 NHWC batches on the 0-255 scale.

    Args:
        task: model variant: ``dn_gray``, ``dn_rgb``, ``demosaic``, ``car``, ``sr_x2/3/4``.
        clean_dir_or_files: a folder of clean images or a list of image paths.
        patch_size: side of the *degraded* (model input) patch; for SR the clean HR patch is
            ``scale * patch_size``.
        batch_size: patches per batch.
        cache: keep the decoded clean images in memory after the first pass.
        augment: random flips and 90-degree rotations.
        sigma: AWGN level for ``dn_*``: a number or a (low, high) range drawn per patch.
        quality: JPEG quality for ``car``: an int or an inclusive (low, high) range.
        repeat: repeat forever (training); otherwise one patch per image, one pass.
        shuffle: shuffle the images (seeded).
        seed: base seed; the same seed gives the same batches. ``None`` draws one at random.
        pattern: Bayer pattern for ``demosaic``.
        noise_clip, noise_round: clip / round the noisy input (off: DnCNN/RNAN protocol).
        shuffle_buffer: maximum shuffle buffer (images).
        drop_remainder: drop a last incomplete batch (default: ``repeat``).
        degrade: ``"host"`` degrades in the ``tf.data`` pipeline (CPU); ``"device"`` yields
            the clean patches with their per-patch settings, for
            ``dataset.degrade_fn`` (:func:`degrade_patches` with the tensor-ops JPEG) to
            degrade inside the train step.
        saturation: colour tasks only: scale each clean patch's HSV saturation by a factor
            drawn uniformly from ``(low, high)`` (``tf.image.adjust_saturation``),
            before it is degraded; e.g. ``(1, 2)`` adds colourful, less channel-correlated
            patches (demosaicing of saturated images). ``None``: off.

    Returns:
        ``tf.data.Dataset`` of ``(degraded [B, p, p, C], clean [B, s*p, s*p, C])`` float32,
        where C is 1 for ``dn_gray``/``car`` and 3 otherwise and s the SR scale (else 1).
        With ``degrade="device"``: batches of the dict :func:`degrade_patches` takes, and
        ``dataset.degrade_fn(batch)`` gives the pair. ``dataset.stats`` is a
        :class:`DatasetStats` counting skipped files.

    Raises:
        ConfigError: unknown task, missing sigma/quality, bad patch or batch size, unknown
            ``degrade`` mode or Bayer pattern.
        ImageReadError: no images found, or none usable.
    """
    info = get_task(task)
    if patch_size < 1 or batch_size < 1:
        raise ConfigError(f"patch_size and batch_size must be >= 1, got {patch_size}, "
                          f"{batch_size}")
    if degrade not in DEGRADE_MODES:
        raise ConfigError(f"unknown degrade mode {degrade!r}; choose one of "
                          f"{', '.join(DEGRADE_MODES)}")
    kwargs = _degrade_kwargs(info, sigma, quality)
    if saturation is not None:
        lo, hi = (float(v) for v in saturation)
        if info.n_colors != 3:
            raise ConfigError(f"saturation augmentation needs a colour task, not {task}")
        if not 0 <= lo <= hi:
            raise ConfigError(f"saturation must be (low, high) with 0 <= low <= high, "
                              f"got {saturation}")
    if info.bayer_input:
        bayer_masks(pattern)  # an unknown pattern fails here, not in the train step
    stats = DatasetStats()
    files = list_image_files(clean_dir_or_files)
    stats.files_found = len(files)
    crop = patch_size * info.scale
    files = _check_files(files, crop, stats)
    if not files:
        raise ImageReadError(
            f"none of the {stats.files_found} images is usable for {crop}x{crop} crops "
            f"({stats.n_skipped} skipped: first reason: {stats.skipped[0][1]})"
        )
    stats.files_used = len(files)
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    base = tf.constant([seed & 0x7FFFFFFF, 0x5EED], tf.int64)

    ds = _decode_dataset(files, info, stats)
    if cache:
        ds = ds.cache()
    if repeat:
        ds = ds.repeat()
    if shuffle:
        ds = ds.shuffle(min(len(files), shuffle_buffer), seed=seed, reshuffle_each_iteration=True)

    channels = info.n_colors
    side = (patch_size + 2 * SR_MARGIN) * info.scale if info.is_sr else crop

    def clean_patch(index, image):
        """One element: the augmented clean uint8 patch and its degradation settings."""
        element_seed = tf.stack([base[0], index + 1])
        s_crop, s_aug, s_deg = tf.unstack(
            tf.random.experimental.stateless_split(element_seed, 3))
        if info.is_sr:
            clean = _sr_region(image, patch_size, info.scale, s_crop)
        elif info.jpeg_input:  # on the JPEG block grid of the whole image
            clean = _aligned_crop(image, crop, JPEG_BLOCK, s_crop)
        else:
            clean = tf.image.stateless_random_crop(image, [crop, crop, channels], s_crop)
        if augment:
            clean = _augment(clean, s_aug)
        if saturation is not None:
            s_sat = tf.random.experimental.stateless_fold_in(s_aug, 1)
            factor = tf.random.stateless_uniform([], s_sat, lo, hi)
            clean = tf.image.adjust_saturation(clean, factor)
        element = {"clean": tf.ensure_shape(clean, [side, side, channels])}
        if info.setting is not None:
            s_draw, s_noise = tf.unstack(tf.random.experimental.stateless_split(s_deg, 2))
            value = draw_setting(info.name, kwargs[info.setting], 1, s_draw)
            element[info.setting] = tf.reshape(value, [])
            if info.setting == "sigma":  # the noise's own seed (one per patch)
                element["seed"] = tf.random.stateless_uniform(
                    [2], s_noise, minval=None, maxval=None, dtype=tf.int32)
        return element

    ds = ds.enumerate().map(clean_patch, num_parallel_calls=AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=repeat if drop_remainder is None else drop_remainder)
    options = {"pattern": pattern, "noise_clip": noise_clip, "noise_round": noise_round}
    if degrade == "host":
        host_fn = functools.partial(degrade_patches, info.name, jpeg="libjpeg", **options)
        ds = ds.map(host_fn, num_parallel_calls=AUTOTUNE)
    ds = ds.prefetch(AUTOTUNE)
    ds.stats = stats
    if degrade == "device":
        ds.degrade_fn = functools.partial(degrade_patches, info.name, jpeg="tf", **options)
    return ds


def _find_degraded(degraded_dir: Path, clean_path: str, scale: int) -> str | None:
    stem = Path(clean_path).stem
    candidates = [stem, f"{stem}x{scale}", f"{stem}_x{scale}", f"{stem}x{scale}".upper()]
    for name in candidates:
        for ext in IMAGE_EXTENSIONS:
            for cand in (degraded_dir / f"{name}{ext}", degraded_dir / f"{name}{ext.upper()}"):
                if cand.is_file():
                    return str(cand)
    return None


def make_eval_dataset(
    task: str,
    clean_dir_or_files: str | Path | Iterable[str | Path],
    *,
    sigma: float | None = None,
    quality: int | None = None,
    degraded_dir: str | Path | None = None,
    seed: int = 0,
    pattern: str = "GRBG",
    noise_clip: bool = False,
    noise_round: bool = False,
    with_names: bool = False,
) -> tf.data.Dataset:
    """Evaluation dataset: whole images as (degraded [1, h, w, C], clean [1, H, W, C]).

    The degradation of image ``i`` (in sorted file order) uses the seed ``(seed, i)``, so
    every evaluation with the same seed sees exactly the same noise / JPEG. For SR the clean
    image is cropped to a multiple of the scale first (Matlab ``modcrop``) and the LR image is
    the Matlab bicubic down-scale on uint8 (identical to the standard benchmark LR files).

    Args:
        task, sigma, quality, pattern, noise_clip, noise_round: as in :func:`make_dataset`
            (sigma / quality must be fixed numbers here).
        clean_dir_or_files: folder or list of clean (ground-truth) images.
        degraded_dir: read pre-made degraded images from this folder instead of synthesising
            them; a file matches by stem (``baby.png``) or by ``<stem>x<scale>`` (SR, e.g.
            ``babyx2.png``). Gray tasks convert colour files like the clean ones.
        seed: degradation seed.
        with_names: yield ``(degraded, clean, file_name)`` instead of pairs.

    Raises:
        ConfigError / ImageReadError as :func:`make_dataset`; ImageReadError also when a
        degraded file is missing or its size does not match.
    """
    info = get_task(task)
    if isinstance(sigma, tuple | list) or isinstance(quality, tuple | list):
        raise ConfigError("make_eval_dataset needs a fixed sigma / quality, not a range")
    kwargs = {} if degraded_dir is not None else _degrade_kwargs(info, sigma, quality)
    stats = DatasetStats()
    files = list_image_files(clean_dir_or_files)
    stats.files_found = len(files)
    pairs = []
    if degraded_dir is not None:
        degraded_dir = Path(degraded_dir)
        if not degraded_dir.is_dir():
            raise ImageReadError(f"degraded folder not found: {degraded_dir}")
        for path in files:
            match = _find_degraded(degraded_dir, path, info.scale)
            if match is None:
                raise ImageReadError(f"no degraded image for {Path(path).name} in {degraded_dir}")
            pairs.append(match)
    stats.files_used = len(files)

    s = info.scale
    degraded_paths = pairs if degraded_dir is not None else [""] * len(files)
    ds = tf.data.Dataset.from_tensor_slices(
        (tf.range(len(files), dtype=tf.int64), files, degraded_paths,
         [Path(p).name for p in files]))

    def load_pair(i, clean_path, degraded_path, name):
        arr, gray, ok = _tf_read(clean_path, stats)
        if degraded_dir is None:
            return i, arr, gray, arr, gray, ok, name
        darr, dgray, dok = _tf_read(degraded_path, stats)
        return i, arr, gray, darr, dgray, tf.logical_and(ok, dok), name

    def make_pair(i, arr, gray, darr, dgray, ok, name):
        del ok
        clean = tf.cast(_to_clean(arr, gray, info), tf.float32)
        h, w = tf.shape(clean)[0], tf.shape(clean)[1]
        clean = clean[None, : h - h % s, : w - w % s]  # Matlab modcrop for SR
        if degraded_dir is None:
            noisy = degradations.degrade(
                info.name, clean, seed=tf.stack([tf.cast(seed, tf.int64), i]),
                pattern=pattern, clip=noise_clip, round_values=noise_round, **kwargs)
        else:
            noisy = tf.cast(_to_clean(darr, dgray, info), tf.float32)[None]
            tf.debugging.assert_equal(
                tf.shape(noisy)[1:3], tf.shape(clean)[1:3] // s,
                message="degraded image size does not match the clean image (/ scale)")
        return noisy, clean, name

    ds = ds.map(load_pair).filter(lambda *t: t[5]).map(make_pair)
    if not with_names:
        ds = ds.map(lambda noisy, clean, name: (noisy, clean))
    ds = ds.prefetch(AUTOTUNE)
    ds.stats = stats
    return ds
