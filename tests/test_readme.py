"""Every shell command and Python snippet shown in README.md runs (on tiny inputs).

The README's code blocks are parsed here; each shell command must match one entry of
``RULES`` (run it, run it with tiny-input options appended, or skip it with a reason that
pytest's ``-ra`` summary lists). A command that no rule knows fails the test, so the README
cannot show a command that nobody has run. User-supplied inputs the README names
(``noisy.png``, ``noisy/``, ``imgs/``, ...) are created as tiny images in a scratch folder;
a benchmark folder the README shows (``../shared/data/testsets/CBSD68``) is replaced by two
small crops of it. ``rnan`` commands run in-process through :func:`rnan_keras.cli.main.main`
(the console script's own function); ``rnan info`` also runs as a real subprocess through
the installed ``rnan`` script.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from rnan_keras.data.image_io import write_image

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

# Options appended to training commands: argparse keeps the last value, so the README's
# command runs unchanged apart from size (a tiny model, two steps of two 24x24 patches).
TINY_TRAIN = ["--steps", "2", "--batch-size", "2", "--patch-size", "24", "--n-feats", "8",
              "--n-resgroups", "2", "--ckpt-every", "1", "--val-max-images", "1"]

# Paths the README uses for data the user brings -> a tiny stand-in (created below).
STAND_INS = {
    "../shared/data/testsets/CBSD68": "cbsd68_2",
    "../shared/data/train/CBSD432": "imgs",
}


@dataclass(frozen=True)
class Rule:
    pattern: str  # regex matched against the whole command (comments stripped)
    action: str  # "run", "tiny-train", "make-demo" or "skip"
    reason: str = ""


RULES = [
    Rule(r"make test", "skip", "make test is this test suite itself"),
    Rule(r"make demo", "make-demo"),
    Rule(r"export '?TF_CONFIG=.*", "skip",
         "multi-host launch: TF_CONFIG names other hosts (tests/training/test_strategy.py "
         "and test_multi_worker.py run the strategies locally)"),
    Rule(r"rnan train sr_x\d .*--strategy multi-worker .*", "skip",
         "multi-host training: needs the hosts named in TF_CONFIG"),
    Rule(r"rnan train sr_x2 --train-dir DIV2K_HR .*", "skip",
         "paper-size training: needs DIV2K, which the user supplies, and a GPU (the same "
         "code runs above with the small config)"),
    Rule(r"rnan convert \S+\.pt .*", "skip",
         "needs the torch extra and an official .pt checkpoint the user supplies "
         "(the converter is tested on official fixtures in tests/convert/)"),
    Rule(r"rnan train .*", "tiny-train"),
    Rule(r"rnan .*", "run"),
]

PY_SKIPS = {
    "rnan_keras.convert(": "needs the torch extra and an official .pt checkpoint the user "
    "supplies (the converter is tested on official fixtures in tests/convert/)",
}


def _blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block."""
    return re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


def _shell_commands(body: str) -> list[str]:
    """Commands of a shell block: continuations joined, comments and blank lines dropped."""
    body = re.sub(r"\\\n\s*", " ", body)
    commands, pending = [], ""
    for line in body.splitlines():
        line = (pending + " " + line).strip() if pending else line.strip()
        pending = ""
        if line.count("'") % 2:  # a quoted value continues on the next line
            pending = line
            continue
        tokens = shlex.split(line, comments=True)
        if tokens:
            commands.append(shlex.join(tokens))
    return commands


def _readme_items() -> list[tuple[str, str]]:
    items = []
    for lang, body in _blocks(README.read_text()):
        if lang == "python":
            items.append(("python", body))
        elif lang in ("", "bash", "sh", "shell") and not body.lstrip().startswith("|"):
            items.extend(("shell", c) for c in _shell_commands(body))
    return items


ITEMS = _readme_items()


def _rule(command: str) -> Rule:
    for rule in RULES:
        if re.fullmatch(rule.pattern, command):
            return rule
    pytest.fail(f"README.md shows a command test_readme.py does not know: {command!r}; "
                "add a rule for it (run it on tiny inputs, or skip it with a reason)")


def _image(seed: int, size=(40, 48)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    smooth = np.linspace(40, 200, size[1])[None, :, None] + np.zeros((size[0], 1, 3))
    return np.clip(smooth + rng.normal(0, 20, (*size, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, shared_dir) -> Path:
    """A scratch folder holding the inputs the README's commands name."""
    from rnan_keras.data.image_io import read_image

    root = tmp_path_factory.mktemp("readme")
    write_image(root / "noisy.png", _image(0))
    write_image(root / "in.png", _image(1))
    for folder, n in (("noisy", 2), ("imgs", 3), ("val", 1), ("my_val_crops", 1),
                      ("train_images", 2)):
        for i in range(n):
            write_image(root / folder / f"{i}.png", _image(10 + i, (56, 64)))
    for path in sorted((shared_dir / "data/testsets/CBSD68").glob("*.png"))[:2]:
        image = read_image(path)  # two crops of the real benchmark set
        write_image(root / "cbsd68_2" / path.name, image[100:148, 150:206])
    return root


def _argv(command: str) -> list[str]:
    tokens = shlex.split(command)
    tokens = [t for t in tokens if not (t.startswith("[") or t.endswith("]"))]  # [--opt] hints
    return [STAND_INS.get(t, t) for t in tokens]


def _run_rnan(argv: list[str], capsys) -> tuple[int, str]:
    from rnan_keras.cli.main import main

    assert argv[0] == "rnan"
    code = main(argv[1:])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize("kind,item", ITEMS, ids=[i[1].strip()[:60] for i in ITEMS])
def test_readme_item_runs(kind, item, workdir, monkeypatch, capsys):
    monkeypatch.chdir(workdir)
    if kind == "python":
        for marker, reason in PY_SKIPS.items():
            if marker in item:
                pytest.skip(reason)
        exec(compile(item, "README.md", "exec"), {"__name__": "readme"})  # noqa: S102
        return
    rule = _rule(item)
    if rule.action == "skip":
        pytest.skip(rule.reason)
    if rule.action == "make-demo":
        # `make demo` = create .venv + install (what `make test` just did) + its recipe;
        # check that the recipe is `rnan demo`, then run that command here.
        recipe = subprocess.run(["make", "-n", "-C", str(REPO), "demo"], capture_output=True,
                                text=True, check=True).stdout.splitlines()
        demo = [line for line in recipe if "rnan demo" in line]
        assert demo, recipe
        out_dir = shlex.split(demo[-1])[-1]
        code, text = _run_rnan(["rnan", "demo", "--out", out_dir], capsys)
        assert code == 0, text
        assert (workdir / out_dir / "before_after.png").is_file()
        noisy, restored = (float(v) for v in re.findall(r"PSNR\s+([\d.]+) dB", text))
        assert restored > noisy + 3, text
        return
    argv = _argv(item)
    if rule.action == "tiny-train" and "--config" not in argv:
        tiny = TINY_TRAIN
        if "--widen" in argv:  # the command's width, the start point's other architecture
            arch = {"--n-feats", "--n-resgroups"}
            tiny = [t for i, t in enumerate(tiny) if t not in arch and tiny[i - 1] not in arch]
        argv += tiny
    code, text = _run_rnan(argv, capsys)
    assert code == 0, f"{item!r} exited {code}:\n{text[-2000:]}"


def test_rnan_console_script_runs():
    """The installed ``rnan`` script itself (not only its main function)."""
    script = shutil.which("rnan", path=str(Path(sys.executable).parent)) or shutil.which("rnan")
    if script is None:
        pytest.skip("the rnan console script is not installed (pip install -e .)")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([script, "info"], check=False, capture_output=True, text=True,
                          env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "dn_rgb_small" in done.stdout


def test_every_readme_command_has_a_rule():
    commands = [item for kind, item in ITEMS if kind == "shell"]
    assert len(commands) >= 10  # the parser found the README's command blocks
    assert len([1 for kind, _ in ITEMS if kind == "python"]) >= 2
    for command in commands:
        _rule(command)
