"""Export RNAN models to SavedModel, TFLite and ONNX, each verified in its own runtime.

``rnan_keras.export(model, path, format=...)`` (this package is callable: calling it calls
:func:`rnan_keras.export.exporter.export`, so the function and the subpackage share one
name without shadowing each other) and :func:`load_exported` to open an export after
checking its manifest. Modules, one concept each:

- :mod:`.exporter` -- ``export``: convert, verify against Keras, place atomically.
- :mod:`.serving` -- the ``serving_default`` graph (signature, uint8 option, pad/crop).
- :mod:`.tiling` -- fixed-size tiles inside the graph (bounded memory on large images).
- :mod:`.formats` -- one module per format (``savedmodel``, ``tflite``, ``onnx``).
- :mod:`.parity` -- real-image probes and the comparison figures.
- :mod:`.manifest` / :mod:`.files` -- the JSON manifest with sha256, atomic placement.
- :mod:`.loading` -- ``load_exported``.
- :mod:`.conditioning` -- well-conditioned random-weight models for tests and benchmarks.

Nothing heavy is imported until used, so ``import rnan_keras.export`` is cheap.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_LAZY = {
    "export": "rnan_keras.export.exporter",
    "ExportResult": "rnan_keras.export.exporter",
    "load_exported": "rnan_keras.export.loading",
    "ExportedModel": "rnan_keras.export.loading",
    "FORMATS": "rnan_keras.export.formats",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rnan_keras.export' has no attribute {name!r}")


class _CallableModule(types.ModuleType):
    """Module type whose call is :func:`rnan_keras.export.exporter.export`.

    Importing a subpackage binds it as an attribute of its parent, so after any
    ``import rnan_keras.export...`` the name ``rnan_keras.export`` is this package, not the
    function; making the package callable keeps ``rnan_keras.export(model, path)`` working.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from rnan_keras.export.exporter import export

        return export(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
