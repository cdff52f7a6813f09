"""Benchmark evaluation with the paper's protocol, and its reports (JSON, Markdown, grid PNG).

Protocol per task (see :func:`protocol_for`): the degradation of
:func:`rnan_keras.data.degradations.degrade` (fixed seed per image), measured on the
channels and with the crop border that :mod:`rnan_keras.tasks` gives the task (all
channels, or the Y of Matlab rgb2ycbcr with a border of the scale cropped for SR).

Restored images are quantised (clipped to 0-255 and rounded) before measuring, as the
paper's Matlab scripts measured saved 8-bit results. Degradations come from
:func:`rnan_keras.data.pipeline.make_eval_dataset` (image ``i`` uses seed ``(seed, i)``), or
from files given with ``degraded_dir``. The baseline column is the degraded input itself
(noisy / mosaiced / JPEG, the paper's reference rows) or, for SR, Matlab bicubic
up-scaling.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from rnan_keras.metrics import psnr, ssim
from rnan_keras.tasks import get_task


class Protocol(NamedTuple):
    """How a task's results are measured: pixels cropped at each side, Y of an RGB result."""

    crop_border: int
    y_channel: bool


def protocol_for(task: str) -> Protocol:
    """``(crop_border, y_channel)`` of the paper's evaluation for ``task`` (from the registry)."""
    info = get_task(task)
    return Protocol(info.crop_border, info.y_channel)


def quantize(x: np.ndarray) -> np.ndarray:
    """Clip to 0-255 and round halves up (the values an 8-bit file stores), float64."""
    return np.floor(np.clip(np.asarray(x, np.float64), 0.0, 255.0) + 0.5)


def image_psnr(restored: np.ndarray, clean: np.ndarray, task: str) -> float:
    """PSNR (dB) of one restored HWC image against its clean target, by the task's protocol:
    the result quantised (:func:`quantize`), measured on the task's channel with its crop
    border. Used by :func:`evaluate` and by validation during training."""
    crop, y = protocol_for(task)
    return psnr(quantize(restored), clean, crop_border=crop, y_channel=y)


def baseline(task: str, degraded: np.ndarray) -> np.ndarray:
    """The reference result: the degraded input, or bicubic up-scaling for SR (float 0-255)."""
    from rnan_keras.data.degradations import imresize

    info = get_task(task)
    if info.is_sr:
        return np.asarray(imresize(degraded.astype(np.float32), float(info.scale)))
    return degraded


@dataclass
class ImageResult:
    """Metrics of one image; ``None`` where SSIM is undefined (image under 11x11) and, for
    the baseline, where it was not measured (``evaluate(..., with_baseline=False)``)."""

    name: str
    height: int
    width: int
    psnr: float
    ssim: float | None
    baseline_psnr: float | None
    baseline_ssim: float | None
    seconds: float


@dataclass
class EvalResult:
    """Per-image and mean metrics plus the settings that produced them."""

    task: str
    settings: dict[str, Any]
    images: list[ImageResult] = field(default_factory=list)

    def mean(self) -> dict[str, float | None]:
        def avg(values):
            values = [v for v in values if v is not None and math.isfinite(v)]
            return float(np.mean(values)) if values else None

        return {
            "psnr": avg([r.psnr for r in self.images]),
            "ssim": avg([r.ssim for r in self.images]),
            "baseline_psnr": avg([r.baseline_psnr for r in self.images]),
            "baseline_ssim": avg([r.baseline_ssim for r in self.images]),
            "seconds": avg([r.seconds for r in self.images]),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; infinite PSNR (identical images) becomes ``None``."""
        return _finite({
            "task": self.task,
            "settings": self.settings,
            "n_images": len(self.images),
            "mean": self.mean(),
            "images": [asdict(r) for r in self.images],
        })

    def to_markdown(self, baseline_name: str | None = None) -> str:
        base = baseline_name or ("Bicubic" if get_task(self.task).is_sr else "Input")
        s = self.settings
        level = ", ".join(
            f"{k} {s[k]}" for k in ("sigma", "quality", "scale") if s.get(k) is not None
        )
        lines = [
            f"### {self.task}{' (' + level + ')' if level else ''} on {s.get('data_name', '')}",
            "",
            (f"Measured on {s['measured_on']}, crop border {s['crop_border']}; "
            f"tile {s['tile']}, ensemble {_views(s['ensemble'])}."),
            "",
            f"| image | size | {base} PSNR | {base} SSIM | PSNR | SSIM | time (s) |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]

        def f(v, digits):
            return "-" if v is None else f"{v:.{digits}f}"

        for r in self.images:
            lines.append(
                f"| {r.name} | {r.width}x{r.height} | {f(r.baseline_psnr, 2)} | "
                f"{f(r.baseline_ssim, 4)} | {f(r.psnr, 2)} | {f(r.ssim, 4)} | {r.seconds:.1f} |"
            )
        m = self.mean()
        lines.append(
            f"| **mean** | | {f(m['baseline_psnr'], 2)} | {f(m['baseline_ssim'], 4)} | "
            f"**{f(m['psnr'], 2)}** | **{f(m['ssim'], 4)}** | {f(m['seconds'], 1)} |"
        )
        skipped = s.get("skipped") or []
        if skipped:
            names = ", ".join(Path(str(path)).name for path, _ in skipped)
            lines += ["", f"Skipped {len(skipped)} unreadable file(s), not in the mean: {names}."]
        return "\n".join(lines) + "\n"


def _views(ensemble: bool | int) -> str:
    """``off`` or ``xN`` for a settings' ensemble (a view count; True in older reports)."""
    n = 8 if ensemble is True else int(ensemble or 0)
    return f"x{n}" if n > 1 else "off"


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def _metrics(out: np.ndarray, clean: np.ndarray, crop: int, y: bool) -> tuple[float, float | None]:
    p = psnr(out, clean, crop_border=crop, y_channel=y)
    h, w = clean.shape[0] - 2 * crop, clean.shape[1] - 2 * crop
    s = ssim(out, clean, crop_border=crop, y_channel=y) if min(h, w) >= 11 else None
    return p, s


def evaluate(
    model,
    task: str,
    data: str | Path,
    *,
    sigma: float | None = None,
    quality: int | None = None,
    degraded_dir: str | Path | None = None,
    seed: int = 0,
    tile: int | str | None = "auto",
    overlap: int = 16,
    ensemble: bool | int = False,
    max_memory: str | float | None = None,
    max_images: int | None = None,
    keep: int = 0,
    progress: bool | None = None,
    on_image: Callable[[ImageResult], None] | None = None,
    restore_fn: Callable[[np.ndarray], np.ndarray] | None = None,
    with_baseline: bool = True,
    warmup: bool = False,
) -> tuple[EvalResult, list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]]:
    """Degrade the clean images in ``data``, restore them with ``model`` and measure.

    Args:
        model: a Keras model for ``task`` (``(B, H, W, C)`` float32 0-255).
        task: ``dn_gray``, ``dn_rgb``, ``demosaic``, ``car`` or ``sr_xN``.
        data: folder (or list) of clean images.
        sigma, quality: noise level (dn_*) / JPEG quality (car).
        degraded_dir: use degraded files from this folder instead of synthesising them.
        seed: degradation seed (image ``i`` uses ``(seed, i)``).
        tile, overlap, ensemble, max_memory: as in :func:`rnan_keras.restore`.
        max_images: evaluate only the first N images (sorted by name).
        keep: also return ``(name, degraded, restored, clean)`` for the first ``keep`` images.
        progress: tqdm bars (default: when stderr is a terminal).
        on_image: called with each :class:`ImageResult` as it is computed.
        restore_fn: restore each degraded ``(H, W, C)`` float32 0-255 image with this
            function instead of ``model`` (a classical method measured under the same
            protocol on the same inputs; ``model`` may then be None).
        with_baseline: also measure the baseline (the degraded input, bicubic for SR);
            False leaves ``baseline_psnr`` / ``baseline_ssim`` None (a caller measuring
            several methods on the same inputs needs it once).
        warmup: restore the first image once, untimed and discarded, before the timed
            loop, so that one-time costs (graph tracing, kernel selection, a library's
            first-call set-up) are not counted as the first image's ``seconds``.

    Returns:
        ``(result, kept)``.
    """
    from rnan_keras.data.pipeline import make_eval_dataset
    from rnan_keras.inference.ensemble import ensemble_views
    from rnan_keras.inference.restore import restore_array

    info = get_task(task)
    crop, y = protocol_for(task)
    dataset = make_eval_dataset(
        task, data, sigma=sigma, quality=quality, degraded_dir=degraded_dir, seed=seed,
        with_names=True,
    )
    c_model = info.n_colors if model is None else int(model.inputs[0].shape[-1])
    settings = {
        "data": str(data),
        "data_name": Path(str(data)).name,
        "sigma": sigma,
        "quality": quality,
        "scale": info.scale if info.is_sr else None,
        "seed": seed,
        "degraded_dir": None if degraded_dir is None else str(degraded_dir),
        "tile": tile,
        "overlap": overlap,
        "ensemble": len(ensemble_views(ensemble)),
        "crop_border": crop,
        "y_channel": y,
        "measured_on": "Y (Matlab rgb2ycbcr)" if y else ("gray/Y" if c_model == 1 else "RGB"),
        "quantized": True,
        "warmup": bool(warmup),
        "model": (getattr(restore_fn, "__name__", "restore_fn") if restore_fn is not None
                  else getattr(model, "name", type(model).__name__)),
    }
    result = EvalResult(task=task, settings=settings)

    def restore(degraded: np.ndarray) -> np.ndarray:
        if restore_fn is not None:
            return restore_fn(degraded)
        return restore_array(
            model, degraded, tile=tile, overlap=overlap, ensemble=ensemble,
            max_memory=max_memory, progress=progress,
        )

    kept: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []
    for i, (degraded, clean, name) in enumerate(dataset):
        if max_images is not None and i >= max_images:
            break
        degraded = degraded.numpy()[0]
        clean = clean.numpy()[0].astype(np.float64)
        name = name.numpy().decode()
        if warmup and i == 0:
            restore(degraded)
        start = time.time()
        restored = restore(degraded)
        seconds = time.time() - start
        out = quantize(restored)
        p, s = _metrics(out, clean, crop, y)
        bp, bs = (_metrics(quantize(baseline(task, degraded)), clean, crop, y)
                  if with_baseline else (None, None))
        record = ImageResult(name, clean.shape[0], clean.shape[1], p, s, bp, bs, seconds)
        result.images.append(record)
        if on_image is not None:
            on_image(record)
        if len(kept) < keep:
            kept.append((name, degraded, out, clean))
    stats = getattr(dataset, "stats", None)  # files that could not be read were skipped
    result.settings["skipped"] = [list(item) for item in stats.skipped] if stats else []
    return result, kept


# --------------------------------------------------------------------------- reports


def _to_rgb8(x: np.ndarray) -> np.ndarray:
    x = np.floor(np.clip(x, 0, 255) + 0.5).astype(np.uint8)
    return np.repeat(x, 3, axis=2) if x.shape[2] == 1 else x[:, :, :3]


def comparison_grid(
    kept: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
    *,
    cell: int = 256,
    zoom: int = 3,
    labels: tuple[str, str, str] = ("degraded", "restored", "clean"),
) -> np.ndarray:
    """A uint8 RGB grid: per image, a row of full views and a row of zoomed centre crops.

    Columns: degraded (nearest-neighbour up-scaled for SR), restored, clean. The crop is the
    centre ``1/zoom`` of each view, enlarged ``zoom`` times without interpolation.
    """
    from PIL import Image, ImageDraw

    rows: list[np.ndarray] = []
    pad = 4
    label_h = 14
    for name, degraded, restored, clean in kept:
        h, w = clean.shape[:2]
        views = []
        for arr in (degraded, restored, clean):
            rgb = _to_rgb8(arr)
            if rgb.shape[:2] != (h, w):
                rgb = np.asarray(Image.fromarray(rgb).resize((w, h), Image.Resampling.NEAREST))
            views.append(rgb)
        scale = cell / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        ch, cw = max(1, h // zoom), max(1, w // zoom)
        top, left = (h - ch) // 2, (w - cw) // 2
        full = [np.asarray(Image.fromarray(v).resize(size, Image.Resampling.LANCZOS)) for v in views]
        crops = [
            np.asarray(
                Image.fromarray(v[top : top + ch, left : left + cw]).resize(
                    size, Image.Resampling.NEAREST
                )
            )
            for v in views
        ]
        for group, suffix in ((full, ""), (crops, f" (centre x{zoom})")):
            row_w = 3 * size[0] + 4 * pad
            canvas = Image.new("RGB", (row_w, size[1] + label_h + pad), (255, 255, 255))
            draw = ImageDraw.Draw(canvas)
            for j, (img, label) in enumerate(zip(group, labels, strict=True)):
                x0 = pad + j * (size[0] + pad)
                canvas.paste(Image.fromarray(img), (x0, label_h))
                draw.text((x0, 1), f"{name}: {label}{suffix}"[:48], fill=(0, 0, 0))
            rows.append(np.asarray(canvas))
    if not rows:
        return np.full((8, 8, 3), 255, np.uint8)
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    return np.concatenate(rows, axis=0)


def write_report(
    result: EvalResult,
    out_dir: str | Path,
    kept: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] | None = None,
) -> dict[str, Path]:
    """Write ``results.json``, ``results.md`` and (with ``kept``) ``grid.png``, atomically."""
    from rnan_keras.data.image_io import atomic_write_bytes, write_image

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": atomic_write_bytes(
            out / "results.json", (json.dumps(result.to_dict(), indent=2) + "\n").encode()
        ),
        "markdown": atomic_write_bytes(out / "results.md", result.to_markdown().encode()),
    }
    if kept:
        paths["grid"] = write_image(out / "grid.png", comparison_grid(kept))
    return paths
