"""Keras layers of RNAN. One layer per module; all registered under package ``rnan_keras``.

Data layout everywhere: NHWC float tensors. Feature maps carry ``filters`` channels; the
image-level layers (padding, mean shift) work on the 0-255 scale.
"""

from rnan_keras.layers.attention_group import AttentionGroup
from rnan_keras.layers.attention_module import ResidualAttentionModule
from rnan_keras.layers.bicubic_upsample import BicubicUpsample
from rnan_keras.layers.bilinear_demosaic import BilinearDemosaic
from rnan_keras.layers.mask_branch import MaskBranch
from rnan_keras.layers.mean_shift import MeanShift
from rnan_keras.layers.non_local import NonLocalBlock
from rnan_keras.layers.non_local_mask_branch import NonLocalMaskBranch
from rnan_keras.layers.padding import CropToReference, PadToMultiple
from rnan_keras.layers.pixel_shuffle import PixelShuffle
from rnan_keras.layers.residual_block import ResidualBlock
from rnan_keras.layers.trunk_branch import TrunkBranch
from rnan_keras.layers.upsampler import Upsampler

__all__ = [
    "AttentionGroup",
    "BicubicUpsample",
    "BilinearDemosaic",
    "CropToReference",
    "MaskBranch",
    "MeanShift",
    "NonLocalBlock",
    "NonLocalMaskBranch",
    "PadToMultiple",
    "PixelShuffle",
    "ResidualAttentionModule",
    "ResidualBlock",
    "TrunkBranch",
    "Upsampler",
]
