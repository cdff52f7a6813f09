"""The one registry of tasks: every fact about the seven RNAN tasks lives here.

A task is both a model variant (what :func:`rnan_keras.build_model` builds) and a
degradation protocol (what :func:`rnan_keras.data.degradations.degrade` synthesises and
how :mod:`rnan_keras.inference.evaluate` and :mod:`rnan_keras.training.validation` measure
the result). Variants, degradations, CLI choices and the evaluation / validation protocol
all read from :data:`TASKS`; nothing else in the package names a task. Code that handles a
task specially asks its record (``is_sr``, ``bayer_input``, ``jpeg_input``, ``gray_is_y``,
``setting``, ``y_channel``...), never compares names or kinds.

=========  ====  ========  =====  =======  ===========  ===========
task       kind  channels  scale  setting  crop border  measured on
=========  ====  ========  =====  =======  ===========  ===========
dn_gray    dn    1         1      sigma    0            gray
dn_rgb     dn    3         1      sigma    0            RGB
demosaic   demosaic 3      1      --       0            RGB
car        car   1         1      quality  0            Y
sr_x2      sr    3         2      --       2            Y of RGB
sr_x3      sr    3         3      --       3            Y of RGB
sr_x4      sr    3         4      --       4            Y of RGB
=========  ====  ========  =====  =======  ===========  ===========
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rnan_keras.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    """A degradation parameter a task takes (``sigma`` or ``quality``) and its valid range."""

    name: str
    low: float
    high: float
    integer: bool
    help: str
    applies_to: str  # the models it applies to, for messages

    def check(self, value) -> None:
        """Raise :class:`ConfigError` when ``value`` is outside ``[low, high]``."""
        if not self.low <= value <= self.high:
            raise ConfigError(f"{self.name} must be {self.range_text}, got {value:g}")

    @property
    def range_text(self) -> str:
        if math.isinf(self.high):
            return f">= {self.low:g} (0-255 scale)"
        return f"in {self.low:g}..{self.high:g}"


SETTINGS: dict[str, Setting] = {
    "sigma": Setting("sigma", 0.0, math.inf, False, "noise level on the 0-255 scale",
                     "denoising"),
    "quality": Setting("quality", 1, 100, True, "JPEG quality 1-100", "JPEG (car)"),
}


@dataclass(frozen=True)
class Task:
    """One task. ``kind`` is ``dn``, ``demosaic``, ``car`` or ``sr``."""

    name: str
    kind: str
    n_colors: int
    scale: int
    setting: str | None  # the degradation parameter it takes: "sigma", "quality" or None
    crop_border: int  # pixels cropped at each side before measuring
    y_channel: bool  # measured on the Y channel of Matlab rgb2ycbcr (of an RGB result)
    measured_on: str
    official_folder: str
    description: str
    help: str  # what the degradation is, for CLI help
    bayer_input: bool = False  # the input is a GRBG Bayer mosaic (3-channel, zero-filled)
    jpeg_input: bool = False  # the input is a JPEG of the ``quality`` setting
    gray_is_y: bool = False  # the one channel is the Y of Matlab rgb2ycbcr, not rgb2gray

    @property
    def task(self) -> str:  # the name the model config uses for ``kind``
        return self.kind

    @property
    def is_sr(self) -> bool:
        """Super-resolution: the output is ``scale`` times larger than the input."""
        return self.kind == "sr"

    @property
    def setting_spec(self) -> Setting | None:
        return SETTINGS[self.setting] if self.setting else None

    def missing_setting(self, **given) -> str | None:
        """The setting this task needs that ``given`` (``sigma=``, ``quality=``) lacks."""
        if self.setting is not None and given.get(self.setting) is None:
            return self.setting
        return None


def _sr(scale: int) -> Task:
    return Task(f"sr_x{scale}", "sr", 3, scale, None, scale, True, "Y (Matlab rgb2ycbcr)",
                "SR", f"bicubic super-resolution x{scale}",
                "Matlab bicubic down-scaling (after cropping to a multiple of the scale)")


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("dn_gray", "dn", 1, 1, "sigma", 0, False, "gray", "DN_Gray",
             "grayscale AWGN denoising", "Gaussian noise of --sigma on the Matlab gray image"),
        Task("dn_rgb", "dn", 3, 1, "sigma", 0, False, "RGB", "DN_RGB",
             "colour AWGN denoising", "Gaussian noise of --sigma, per channel"),
        Task("demosaic", "demosaic", 3, 1, None, 0, False, "RGB", "Demosaic",
             "demosaicing (3-ch zero-filled)", "GRBG Bayer mosaic (3-channel, zero-filled)",
             bayer_input=True),
        Task("car", "car", 1, 1, "quality", 0, False, "Y", "CAR",
             "JPEG artifact reduction on the Y channel",
             "JPEG of quality --quality on the Y channel", jpeg_input=True, gray_is_y=True),
        _sr(2),
        _sr(3),
        _sr(4),
    )
}

#: The task used where a caller gives none (``build_model()``).
DEFAULT_TASK = "dn_rgb"


def get_task(name: str, what: str = "task") -> Task:
    """Look up a task (model variant) by name; raise :class:`ConfigError` listing the names.

    ``what`` names the thing looked up in the message (``task`` or ``variant``).
    """
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown {what} {name!r}; choose one of: {', '.join(TASKS)}") from None


def tasks_with(kind: str | None = None, setting: str | None = None) -> list[str]:
    """Names of the tasks of a ``kind`` and / or taking a degradation ``setting``."""
    return [t.name for t in TASKS.values()
            if (kind is None or t.kind == kind) and (setting is None or t.setting == setting)]


def task_help(measure: bool = False) -> str:
    """What each task's degradation is (and, with ``measure``, how it is measured)."""
    def one(t: Task) -> str:
        crop = f", border {t.crop_border} cropped" if t.crop_border else ""
        return f"{t.name}: {t.help}" + (f", measured on {t.measured_on}{crop}" if measure else "")

    return "; ".join(one(t) for t in TASKS.values())
