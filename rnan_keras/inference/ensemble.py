"""Geometric self-ensemble x8 (the paper's RNAN+).

The input is transformed by the 8 symmetries of the square (4 rotations by 90 degrees,
each with and without a horizontal flip), each version is restored, the inverse transform
is applied to each output, and the 8 outputs are averaged. This is exact for every task
here because all degradations commute with these symmetries except the Bayer mosaic of
demosaicing (see :func:`self_ensemble`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: The 8 transforms as (number of 90-degree rotations, horizontal flip).
TRANSFORMS: tuple[tuple[int, bool], ...] = tuple((k, f) for f in (False, True) for k in range(4))


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

    For demosaicing the GRBG pattern is not invariant under these transforms, so the model
    sees other Bayer layouts; use the ensemble there only with a model trained for it.
    """
    acc = None
    for k, flip in transforms:
        y = inverse_transform(fn(np.ascontiguousarray(forward_transform(x, k, flip))), k, flip)
        acc = y.astype(np.float32) if acc is None else acc + y
    assert acc is not None
    return acc / np.float32(len(transforms))
