"""RNAN model builder and variant registry."""

from rnan_keras.models.config import VARIANTS, RNANConfig, get_variant_spec, make_config
from rnan_keras.models.rnan import RNAN, build_model, with_non_local_mode

__all__ = [
    "RNAN",
    "VARIANTS",
    "RNANConfig",
    "build_model",
    "get_variant_spec",
    "make_config",
    "with_non_local_mode",
]
