"""Geometric self-ensemble x8 (the paper's RNAN+), or x2 / x4 for less time.

The input is transformed by the 8 symmetries of the square (4 rotations by 90 degrees,
each with and without a horizontal flip), each version is restored, the inverse transform
is applied to each output, and the 8 outputs are averaged. :func:`ensemble_views` picks 2
or 4 of them instead (a subgroup, so the average stays symmetric under those views): most
of the gain for a quarter or half of the time. This is exact for every task
here because all degradations commute with these symmetries, except the Bayer mosaic of
demosaicing: a flipped or rotated GRBG mosaic is a mosaic of another layout (RGGB, BGGR or
GBRG). :func:`bayer_self_ensemble` brings each view back to the model's layout by mirroring
one row and / or column onto its top / left edge before restoring it and cropping them off
after (Bayer-preserving augmentation, Liu et al., CVPRW 2019): a mirrored pixel keeps its
colour because row (column) -1 mirrors row 1, of the same parity, so every view is a true
mosaic of the model's layout.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rnan_keras.data.mosaic import bayer_masks
from rnan_keras.errors import ConfigError

#: The 8 transforms as (number of 90-degree rotations, horizontal flip).
TRANSFORMS: tuple[tuple[int, bool], ...] = tuple((k, f) for f in (False, True) for k in range(4))

#: The views in the order an n-view ensemble takes them: the first 2 (identity, mirror on
#: the diagonal) and the first 4 (plus the half turn and the other diagonal) are subgroups.
VIEW_ORDER: tuple[tuple[int, bool], ...] = (
    (0, False), (1, True), (2, False), (3, True), (1, False), (3, False), (0, True), (2, True),
)
VIEW_COUNTS = (1, 2, 4, 8)


def ensemble_views(ensemble: bool | int) -> tuple[tuple[int, bool], ...]:
    """The ``(rotations, flip)`` views of a self-ensemble setting.

    ``True`` means all 8 (RNAN+), ``False`` the input alone; an int is the number of views,
    1, 2, 4 or 8 (each costs one pass of the model). Raises ConfigError otherwise.
    """
    n = 8 if ensemble is True else 1 if ensemble is False or ensemble is None else ensemble
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n not in VIEW_COUNTS:
        raise ConfigError(
            f"ensemble must be True, False or a view count in {VIEW_COUNTS}, got {ensemble!r}")
    return VIEW_ORDER[: int(n)]


def forward_transform(x: np.ndarray, k: int, flip: bool) -> np.ndarray:
    """Flip (left-right) then rotate by ``k * 90`` degrees; ``x`` is ``(..., H, W, C)``."""
    if flip:
        x = np.flip(x, axis=-2)
    return np.rot90(x, k, axes=(-3, -2))


def inverse_transform(y: np.ndarray, k: int, flip: bool) -> np.ndarray:
    """Undo :func:`forward_transform` on an output ``(..., H', W', C)``."""
    y = np.rot90(y, -k, axes=(-3, -2))
    if flip:
        y = np.flip(y, axis=-2)
    return y


def self_ensemble(
    fn: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    transforms: tuple[tuple[int, bool], ...] = TRANSFORMS,
) -> np.ndarray:
    """Average ``fn`` over the 8 flips / rotations of ``x``.

    Args:
        fn: restores one image ``(H, W, C)`` float32 (0-255) -> ``(s*H, s*W, C')``.
        x: ``(H, W, C)`` float32 input.
        transforms: the (rotations, flip) pairs to use; default all 8.

    Returns:
        The float32 average, same shape as ``fn(x)``.

    For demosaicing use :func:`bayer_self_ensemble`: here the model would see other
    Bayer layouts than its own.
    """
    acc = None
    for k, flip in transforms:
        y = inverse_transform(fn(np.ascontiguousarray(forward_transform(x, k, flip))), k, flip)
        acc = y.astype(np.float32) if acc is None else acc + y
    assert acc is not None
    return acc / np.float32(len(transforms))


def bayer_shift(h: int, w: int, k: int, flip: bool, pattern: str = "GRBG") -> tuple[int, int]:
    """Rows and columns ``(dy, dx)``, each 0 or 1, to mirror onto the top / left edge of the
    ``(k, flip)`` view of an ``h`` x ``w`` ``pattern`` mosaic so that it starts with
    ``pattern`` again."""
    if h < 2 or w < 2:
        raise ValueError(f"a Bayer mosaic needs at least 2x2 pixels, got {h}x{w}")
    # the layout at the view's origin depends only on the parities of h and w
    small = np.tile(bayer_masks(pattern), (2, 2, 1))[: 2 + h % 2, : 2 + w % 2]
    view = forward_transform(small, k, flip)
    target = bayer_masks(pattern)
    for dy in (0, 1):
        for dx in (0, 1):
            # padded pixel (a, b) is view pixel (a - dy, b - dx); row -1 mirrors row 1
            rows, cols = [abs(a - dy) for a in (0, 1)], [abs(b - dx) for b in (0, 1)]
            if np.array_equal(view[np.ix_(rows, cols)], target):
                return dy, dx
    raise AssertionError("unreachable: every flip / rotation of a Bayer layout is one")


def bayer_views(h: int, w: int, pattern: str = "GRBG",
                transforms: tuple[tuple[int, bool], ...] = TRANSFORMS):
    """``(k, flip, dy, dx, view_h, view_w)`` of each view :func:`bayer_self_ensemble` runs."""
    for k, flip in transforms:
        dy, dx = bayer_shift(h, w, k, flip, pattern)
        vh, vw = (w, h) if k % 2 else (h, w)
        yield k, flip, dy, dx, vh + dy, vw + dx


def bayer_self_ensemble(
    fn: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    pattern: str = "GRBG",
    transforms: tuple[tuple[int, bool], ...] = TRANSFORMS,
) -> np.ndarray:
    """:func:`self_ensemble` for a demosaicing model: every view is a ``pattern`` mosaic.

    Args:
        fn: restores one zero-filled ``pattern`` mosaic ``(H', W', 3)`` float32 (0-255)
            -> ``(H', W', 3)``.
        x: ``(H, W, 3)`` zero-filled ``pattern`` mosaic (``bayer_mosaic(..., pattern)``),
            ``H, W >= 2``.
        pattern: the Bayer layout of ``x`` and of what ``fn`` expects.
        transforms: the (rotations, flip) pairs to use; default all 8.

    Returns:
        The float32 average of the 8 restorations, ``(H, W, 3)``.
    """
    acc = None
    for k, flip, dy, dx, _, _ in bayer_views(x.shape[0], x.shape[1], pattern, transforms):
        view = np.pad(forward_transform(x, k, flip), ((dy, 0), (dx, 0), (0, 0)), mode="reflect")
        y = inverse_transform(fn(np.ascontiguousarray(view))[dy:, dx:], k, flip)
        acc = y.astype(np.float32) if acc is None else acc + y
    assert acc is not None
    return acc / np.float32(len(transforms))
