"""Variant registry and model configuration.

The seven official variants (the tasks of :mod:`rnan_keras.tasks`) share one architecture
and differ only in colour channels and SR scale; ``RNANConfig`` holds every hyper-parameter the builder reads, so ablations
(paper Table 1) and smaller models are configs too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from rnan_keras.errors import ConfigError
from rnan_keras.tasks import DEFAULT_TASK, TASKS, Task, get_task

#: The variants are the tasks of :mod:`rnan_keras.tasks` (one registry).
VariantSpec = Task
VARIANTS: dict[str, Task] = TASKS


def get_variant_spec(variant: str) -> Task:
    """Look up a variant by name; raises :class:`ConfigError` listing the valid names."""
    return get_task(variant, what="variant")


@dataclass(frozen=True)
class RNANConfig:
    """All hyper-parameters of an RNAN model. Defaults are the paper's full size (~9M).

    Structure: head conv -> group(non-local mask) -> (n_resgroups - 2) groups(local mask)
    -> conv -> group(non-local mask) -> tail. ``n_resgroups`` counts every group, the
    non-local ones included.

    ``non_local_groups`` (1 or 2, default 2 = official): with 1, only the first group has a
    non-local mask and the last group (still the layer ``body_nl_high``, its slot in the
    official layout) gets a local mask, so ``n_resgroups=2, non_local_groups=1`` is the
    paper's Table 7 ``RNAN (1LB+1NLB)``. It removes one non-local block's weights
    (``4 * (F * F / 2) + 3 * F / 2 + F`` parameters for ``F = n_feats``) and nothing else.

    Ablation switches:
        use_mask: False removes every mask branch (trunk only).
        use_non_local: False gives the first and last groups a local mask instead.
        use_local_mask: False removes the mask branch of the middle groups.
        residual_attention: False drops the ``+ x1`` of residual attention learning.

    Initialisation: ``zero_init_tail=True`` starts the last conv at zero, so a fresh
    DN / CAR / demosaic model is the identity (used for the short CPU-trained presets; the
    official code uses PyTorch's default init). Non-local ``W`` convs start at zero as in
    the official code. Initialisation never changes the parameter count.

    ``sr_bicubic_skip=True`` (SR only, not in the official model) adds a fixed bicubic
    up-sampling of the input to the output, so the network learns only the residual over
    bicubic. It has no weights (same parameter count) and is used by the shipped SR
    presets, which get only a short CPU training.

    ``demosaic_bilinear_skip=True`` (demosaic only, not in the official model) replaces the
    global skip's zero-filled mosaic by its fixed bilinear demosaic
    (:class:`~rnan_keras.layers.BilinearDemosaic`), so the network learns the residual over
    bilinear interpolation. No weights, same parameter count.

    ``rgb_range`` is the value range the network computes in, as the official option: the
    model always takes and returns 0-255, and scales by ``rgb_range / 255`` after its input
    and back before its output (no weights). 255 (official) adds nothing; with 1 the
    features, and so the sigmoid masks' and non-local softmax's logits, are 255 times
    smaller at the same weights (the masks of 0-255 models trained here saturate at exactly
    0 / 1: ``scripts/mask_saturation.py``).

    ``non_local_window=w`` (not in the official model; default 0 = global attention)
    restricts each non-local block to non-overlapping ``w x w`` windows of its feature map
    (:class:`~rnan_keras.layers.NonLocalBlock`'s ``window``): linear instead of quadratic
    cost in the image size, no weights. Training on patches of at most ``w`` pixels is the
    same with or without it.
    """

    variant: str = DEFAULT_TASK
    n_colors: int = 3
    scale: int = 1
    n_feats: int = 64
    n_resgroups: int = 10
    pre_blocks: int = 1
    trunk_blocks: int = 2
    post_blocks: int = 2
    mask_down_blocks: int = 2
    use_mask: bool = True
    use_non_local: bool = True
    use_local_mask: bool = True
    non_local_groups: int = 2
    residual_attention: bool = True
    softmax_axis: str = "query"
    non_local_mode: str = "auto"
    chunk_size: int = 1024
    max_dense_positions: int = 96 * 96
    non_local_window: int = 0
    rgb_range: float = 255.0
    zero_init_tail: bool = False
    sr_bicubic_skip: bool = False
    demosaic_bilinear_skip: bool = False

    @property
    def task(self) -> str:
        return get_variant_spec(self.variant).task

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> RNANConfig:
        spec = get_variant_spec(self.variant)
        if self.n_resgroups < 2:
            raise ConfigError(f"n_resgroups must be >= 2 (two non-local groups), got {self.n_resgroups}")
        if self.non_local_groups not in (1, 2):
            raise ConfigError(
                f"non_local_groups must be 1 or 2 (first group, or first and last), "
                f"got {self.non_local_groups!r}"
            )
        if self.n_feats < 2:
            raise ConfigError(f"n_feats must be >= 2, got {self.n_feats}")
        if self.n_colors not in (1, 3, 4):
            raise ConfigError(f"n_colors must be 1, 3 or 4, got {self.n_colors}")
        if self.sr_bicubic_skip and not spec.is_sr:
            raise ConfigError("sr_bicubic_skip applies to SR variants only")
        if self.demosaic_bilinear_skip and not spec.bayer_input:
            raise ConfigError("demosaic_bilinear_skip applies to the demosaic variant only")
        if spec.is_sr and self.n_colors != 3:
            raise ConfigError("SR variants use 3 colour channels (mean shift is RGB)")
        for name in ("pre_blocks", "trunk_blocks", "post_blocks", "mask_down_blocks"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0")
        if self.softmax_axis not in ("query", "key"):
            raise ConfigError(f"softmax_axis must be 'query' or 'key', got {self.softmax_axis!r}")
        if not self.rgb_range > 0:
            raise ConfigError(f"rgb_range must be > 0, got {self.rgb_range}")
        if self.non_local_window < 0:
            raise ConfigError(f"non_local_window must be >= 0 (0 = whole feature map), "
                              f"got {self.non_local_window}")
        if self.non_local_mode not in ("auto", "dense", "chunked"):
            raise ConfigError(
                f"non_local_mode must be 'auto', 'dense' or 'chunked', got {self.non_local_mode!r}"
            )
        return self


#: Paper Table 1 style ablations, as overrides of any variant (all with the paper's size).
ABLATIONS: dict[str, dict[str, Any]] = {
    "no_mask": {"use_mask": False},
    "local_mask_only": {"use_non_local": False},
    "non_local_mask_only": {"use_local_mask": False},
    "no_residual_attention": {"residual_attention": False},
    "full": {},
}


def make_config(variant: str = DEFAULT_TASK, **overrides: Any) -> RNANConfig:
    """Config for ``variant`` with ``overrides`` (any :class:`RNANConfig` field).

    ``ablation="no_mask"`` etc. applies an entry of :data:`ABLATIONS` first.
    """
    spec = get_variant_spec(variant)
    ablation = overrides.pop("ablation", None)
    base: dict[str, Any] = {"variant": variant, "n_colors": spec.n_colors, "scale": spec.scale}
    if ablation is not None:
        if ablation not in ABLATIONS:
            raise ConfigError(f"unknown ablation {ablation!r}; choose one of: {', '.join(ABLATIONS)}")
        base.update(ABLATIONS[ablation])
    fields = {f.name for f in dataclasses.fields(RNANConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ConfigError(f"unknown config option(s) {unknown}; valid: {sorted(fields)}")
    base.update(overrides)
    return RNANConfig(**base).validate()
