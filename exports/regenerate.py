"""Regenerate (or check) the exports shipped in ``exports/``.

For every selected model, writes ``exports/<name>/<name>_savedmodel/``, ``<name>.tflite``
and ``<name>.onnx`` (each with its ``.manifest.json``) through ``rnan_keras.export``, which
verifies each file in its own runtime before writing it, and then ``exports/index.json``
listing every export with its sha256 and parity figures.

Models: by default the shipped presets (``rnan_keras.presets.registry.list_presets()``) whose
weights are at most ``--max-params`` parameters (only the small presets are kept in the
repository); ``--preset NAME`` picks presets explicitly, ``--model FILE.keras`` adds model
files (exported under the file's stem).

Usage::

    python exports/regenerate.py                      # every small preset, 3 formats
    python exports/regenerate.py --force              # even those that are up to date
    python exports/regenerate.py --preset dn_rgb_small --formats onnx
    python exports/regenerate.py --model runs/dn/best.keras --out /tmp/exports
    python exports/regenerate.py --check              # verify the files against manifests
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
FORMAT_FILES = {  # format -> (quantization, file name pattern)
    "savedmodel": ("float32", "{name}_savedmodel"),
    "tflite": ("float32", "{name}.tflite"),
    "tflite_fp16": ("float16", "{name}_fp16.tflite"),
    "tflite_int8": ("dynamic_int8", "{name}_int8.tflite"),
    "onnx": ("float32", "{name}.onnx"),
}
DEFAULT_FORMATS = ("savedmodel", "tflite", "onnx")


def _sources(args: argparse.Namespace) -> list[tuple[str, object]]:
    """``(name, model or .keras path)`` pairs to export."""
    sources: list[tuple[str, object]] = []
    names = args.preset
    if names is None and not args.model:
        try:
            from rnan_keras.presets.registry import get_preset_info, list_presets
        except ImportError:
            print("no preset registry in this version; pass --model FILE.keras", file=sys.stderr)
            names = []
        else:
            names = [n for n in list_presets()
                     if get_preset_info(n).get("param_count", 0) <= args.max_params]
    for name in names or []:
        sources.append((name, ("preset", name)))
    for file in args.model or []:
        sources.append((Path(file).stem, file))
    return sources


def _load(source):
    if isinstance(source, tuple):
        from rnan_keras.presets.registry import load_preset

        return load_preset(source[1])
    return source


def regenerate(args: argparse.Namespace) -> list[dict]:
    from rnan_keras.errors import RNANError
    from rnan_keras.export import export

    entries, failures = [], 0
    existing = _read_index(args.out)
    for name, source in _sources(args):
        keys = [k for k in args.formats
                if args.force or not _up_to_date(args.out, existing.get((name, k)), source)]
        for key in sorted(set(args.formats) - set(keys)):
            print(f"up to date: {existing[(name, key)]['path']}")
        if not keys:
            continue
        try:
            model = _load(source)
        except RNANError as exc:
            print(f"skip {name}: {exc}", file=sys.stderr)
            failures += 1
            continue
        for key in keys:
            quant, pattern = FORMAT_FILES[key]
            fmt = key.split("_")[0]
            target = args.out / name / pattern.format(name=name)
            try:
                result = export(model, target, fmt, quantization=quant, overwrite=True)
            except RNANError as exc:
                print(f"FAILED {target}: {exc}", file=sys.stderr)
                failures += 1
                continue
            entries.append(_entry(result, name, key, _weights_sha(source)))
            probes = result.manifest["parity"]["probes"]
            print(f"wrote {target.relative_to(args.out)}: max |diff| "
                  f"{max(p['max_abs_diff'] for p in probes):.3g}", flush=True)
    _write_index(args.out, entries)
    if failures:
        raise SystemExit(f"{failures} export(s) failed or were skipped")
    return entries


def _weights_sha(source) -> str | None:
    """sha256 of a preset's weights file (from the registry), to detect stale exports."""
    if isinstance(source, tuple):
        from rnan_keras.presets.registry import get_preset_info

        return get_preset_info(source[1]).get("sha256")
    return None


def _entry(result, name: str, key: str, weights_sha: str | None) -> dict:
    m = result.manifest
    return {
        "model": name, "export": key, "format": m["format"], "quantization": m["quantization"],
        "path": f"{name}/{result.path.name}", "sha256": m["sha256"], "variant": m["variant"],
        "preset_weights_sha256": weights_sha,
        "max_abs_diff": max(p["max_abs_diff"] for p in m["parity"]["probes"]),
        "psnr_change_db": [p["psnr_change_db"] for p in m["parity"]["probes"]],
    }


def _read_index(out: Path) -> dict[tuple[str, str], dict]:
    index = out / "index.json"
    data = json.loads(index.read_text()) if index.is_file() else {"exports": []}
    return {(e["model"], e["export"]): e for e in data.get("exports", [])}


def _up_to_date(out: Path, entry: dict | None, source) -> bool:
    """An export of a preset whose weights did not change and whose file is intact.

    (SavedModel and ONNX bytes differ between runs, so unchanged exports are not rewritten
    -- that would only churn the repository.)
    """
    if entry is None or not entry.get("preset_weights_sha256"):
        return False
    if _weights_sha(source) != entry["preset_weights_sha256"]:
        return False
    from rnan_keras.errors import RNANError
    from rnan_keras.export.manifest import check_checksum, read_manifest

    try:
        path = out / entry["path"]
        check_checksum(path, read_manifest(path))
    except RNANError:
        return False
    return True


def _write_index(out: Path, entries: list[dict]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    index = out / "index.json"
    keep = _read_index(out)
    keep.update({(e["model"], e["export"]): e for e in entries})
    data = {"exports": sorted(keep.values(), key=lambda e: (e["model"], e["export"]))}
    fd, tmp = tempfile.mkstemp(prefix=".index.json.", dir=out)
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o666 & ~mask)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")
    os.replace(tmp, index)


def _current_weights_sha(name: str) -> str | None:
    try:
        from rnan_keras.presets.registry import get_preset_info

        return get_preset_info(name).get("sha256")
    except Exception:  # noqa: BLE001 - no registry / preset removed: nothing to compare
        return None


def check(out: Path) -> int:
    """Open every export listed in index.json after checking its sha256 (and staleness)."""
    from rnan_keras.errors import RNANError
    from rnan_keras.export import load_exported

    index = out / "index.json"
    if not index.is_file():
        print(f"no {index}; nothing to check")
        return 0
    bad = 0
    for entry in json.loads(index.read_text())["exports"]:
        try:
            load_exported(out / entry["path"])
        except RNANError as exc:
            print(f"BAD  {entry['path']}: {exc}")
            bad += 1
            continue
        recorded = entry.get("preset_weights_sha256")
        if recorded and _current_weights_sha(entry["model"]) not in (None, recorded):
            print(f"STALE {entry['path']}: the preset's weights changed; regenerate it")
            bad += 1
        else:
            print(f"ok   {entry['path']}")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", action="append", metavar="NAME", help="preset (repeatable)")
    p.add_argument("--model", action="append", metavar="FILE", help=".keras file (repeatable)")
    p.add_argument("--formats", nargs="+", default=list(DEFAULT_FORMATS),
                   choices=list(FORMAT_FILES))
    p.add_argument("--max-params", type=int, default=1_000_000,
                   help="default preset selection: at most this many parameters")
    p.add_argument("--out", type=Path, default=HERE, help="exports folder (default: here)")
    p.add_argument("--check", action="store_true", help="only verify the existing exports")
    p.add_argument("--force", action="store_true",
                   help="re-export presets whose weights and files are unchanged")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.check:
        return check(args.out)
    from rnan_keras.cli.export import sigterm_as_interrupt

    with sigterm_as_interrupt():  # a kill cleans the staging folders up
        regenerate(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
