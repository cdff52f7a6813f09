"""Atomic placement of export artefacts (a file or a SavedModel directory).

Artefacts are built in a temporary folder beside the target (same file system), verified
there, and only then renamed into place, so a failed or interrupted export never leaves a
half-written or unverified file under the target name.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rnan_keras.data.image_io import atomic_write_bytes


@contextlib.contextmanager
def staging_dir(target: Path) -> Iterator[Path]:
    """A temporary folder beside ``target``, removed on exit whatever happens."""
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_path(path: Path) -> None:
    """Delete a file or a directory tree (no error if absent)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def place(source: Path, target: Path) -> None:
    """Rename ``source`` (file or directory) to ``target``, replacing what is there.

    Files use one ``os.replace``. A directory cannot replace a non-empty one in one step:
    the old one is first renamed aside (in ``source``'s folder), then deleted.
    """
    if not target.exists() or (target.is_file() and source.is_file()):
        os.replace(source, target)
        return
    aside = source.parent / f".{target.name}.old"
    os.replace(target, aside)
    try:
        os.replace(source, target)
    except BaseException:
        os.replace(aside, target)
        raise
    remove_path(aside)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically (usual file permissions)."""
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=False) + "\n").encode("utf-8"))