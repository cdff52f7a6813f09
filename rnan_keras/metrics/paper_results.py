"""The RNAN paper's Tables 1-8 (``paper_results.json``) and look-ups into them.

Every table has a ``protocol`` (task, level name and values, datasets and their folders,
metrics, channel, crop border) and ``rows``; Table 8 has five ``parts`` (one per task), each
with its own protocol and rows. Quality rows are ``{"method", "dataset", "level", "psnr"[,
"ssim"]}`` with the paper's dataset and method names; ``null`` is the paper's N/A.

>>> paper_number(2, "Kodak24", 50)                 # RNAN's colour denoising, sigma 50
29.58
>>> paper_number(5, "LIVE1", 10, "JPEG", metric="ssim")
0.7905
>>> rnan_number("dn_rgb", "CBSD68", 50)            # folder names work too
28.27
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

PAPER_FILE = Path(__file__).with_name("paper_results.json")

@lru_cache(maxsize=1)
def load() -> dict[str, Any]:
    """The whole file (cached; do not modify the returned dict)."""
    return json.loads(PAPER_FILE.read_text())


def table(number: int | str) -> dict[str, Any]:
    """One table's entry; ``KeyError`` for a table the paper does not have."""
    tables = load()["tables"]
    key = str(number)
    if key not in tables:
        raise KeyError(f"the paper has no Table {number}; tables: {', '.join(tables)}")
    return tables[key]


def sections(number: int | str) -> list[tuple[str | None, dict[str, Any]]]:
    """``[(part, section)]`` of a table: ``[(None, table)]``, or Table 8's five parts."""
    entry = table(number)
    if "parts" in entry:
        return list(entry["parts"].items())
    return [(None, entry)]


def section_task(section: dict[str, Any], level: Any = None) -> str:
    """The rnan_keras task of a section at ``level`` (SR: the scale picks ``sr_xN``)."""
    protocol = section["protocol"]
    per_level = protocol.get("task_per_level")
    if per_level:
        if level is None:
            raise ValueError("an SR table needs the scale to name the task")
        return per_level[str(level)]
    return protocol["task"]


def _tasks(section: dict[str, Any]) -> set[str]:
    protocol = section["protocol"]
    return set(protocol.get("task_per_level", {}).values()) or {protocol["task"]}


def _dataset_name(section: dict[str, Any], dataset: str) -> str:
    """The paper's dataset name for ``dataset`` (a paper name or a test-set folder name)."""
    dirs = section["protocol"].get("data_dirs", {})
    if dataset in dirs:
        return dataset
    for name, folder in dirs.items():
        if dataset in (folder, folder.split("/")[0]):
            return name
    return dataset


def _section_rows(
    section: dict[str, Any], task: str | None, dataset: str | None, level: Any,
    method: str | None,
) -> Iterator[dict[str, Any]]:
    if task is not None and task not in _tasks(section):
        return
    name = None if dataset is None else _dataset_name(section, dataset)
    by_level = "task_per_level" in section["protocol"]
    for row in section["rows"]:
        if name is not None and row.get("dataset") != name:
            continue
        if level is not ... and row.get("level") != level:
            continue
        if method is not None and row.get("method") != method:
            continue
        if task is not None and by_level and section_task(section, row["level"]) != task:
            continue
        yield row


def rows(
    number: int | str,
    *,
    task: str | None = None,
    dataset: str | None = None,
    level: Any = ...,
    method: str | None = None,
) -> Iterator[dict[str, Any]]:
    """The rows of a table matching every filter given (``level=None`` matches null)."""
    for _, section in sections(number):
        yield from _section_rows(section, task, dataset, level, method)


def paper_number(
    number: int | str,
    dataset: str,
    level: Any = None,
    method: str | None = None,
    metric: str = "psnr",
    *,
    task: str | None = None,
) -> float | None:
    """A number of Table ``number``: ``metric`` of ``method`` on ``dataset`` at ``level``.

    ``method`` defaults to the table's RNAN row (``"RNAN (ours)"``; ``"RNAN"`` in Table 8).
    ``dataset`` is the paper's name or the test-set folder (``CBSD68``, ``McMaster``).
    ``task`` picks Table 8's part (``dn_rgb``, ``dn_gray``, ``demosaic``, ``car``,
    ``sr_x2``...). Returns ``None`` where the paper has no such number or prints N/A.
    """
    for _, section in sections(number):
        wanted = method or section.get("rnan_method")
        for row in _section_rows(section, task, dataset, level, wanted):
            return row.get(metric)
    return None


def rnan_number(task: str, dataset: str, level: Any = None, metric: str = "psnr") -> float | None:
    """The paper's RNAN (DIV2K-trained, main Tables 2-6) ``metric`` for an rnan_keras task.

    ``level`` is the sigma / quality (not needed for SR: the task names the scale).
    ``None`` where the paper has no number (e.g. Set12, or SR x3, which Table 6 lacks).
    """
    from rnan_keras.tasks import TASKS

    if task not in TASKS:
        raise KeyError(f"unknown task {task!r}")
    info = TASKS[task]
    main_tables = load()["main_tables"]
    key = info.kind if info.is_sr else task  # one table for all SR scales
    if info.is_sr:
        level = info.scale
    elif level is not None:
        level = int(level) if float(level).is_integer() else level
    return paper_number(main_tables[key], dataset, level, metric=metric, task=task)


def build_options(row: dict[str, Any]) -> dict[str, Any]:
    """``build_model`` options of a Table 1 case or a Table 7 RNAN column (paper sizes).

    Local blocks (RAB / LB) and non-local blocks (RNAB / NLB) become attention groups:
    ``n_resgroups = local + non-local``; one non-local block is ``non_local_groups=1``;
    none is ``use_non_local=False`` (or ``use_mask=False`` without mask branches); mask
    branches off with non-local blocks on keeps the mask branch of the non-local groups
    only (``use_local_mask=False``). A mapping of ours, not the paper's.
    """
    local = row.get("rab", row.get("local_blocks"))
    non_local = row.get("rnab", row.get("non_local_blocks"))
    if local is None or non_local is None:
        raise ValueError(f"not an RNAN configuration row: {row.get('method', row)}")
    mask = row.get("mask_branch", True)
    uses_non_local = row.get("non_local_block", non_local > 0)
    if uses_non_local != (non_local > 0) or non_local > 2 or local + non_local < 2:
        raise ValueError(f"no build_model equivalent for {row}")
    options: dict[str, Any] = {"n_resgroups": local + non_local}
    if non_local == 0:
        options.update({"use_non_local": False} if mask else {"use_mask": False})
    else:
        if non_local == 1:
            options["non_local_groups"] = 1
        if not mask:
            options["use_local_mask"] = False
    return options
