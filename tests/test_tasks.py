"""The task registry is the one source of task facts; everything else agrees with it."""

import pytest

from rnan_keras.cli.main import build_parser
from rnan_keras.data import degradations
from rnan_keras.errors import ConfigError
from rnan_keras.inference import evaluate
from rnan_keras.inference.evaluate import protocol_for
from rnan_keras.models.config import VARIANTS, get_variant_spec
from rnan_keras.tasks import SETTINGS, TASKS, get_task, tasks_with
from rnan_keras.training import config as train_config
from rnan_keras.training import validation


def test_registry_is_shared():
    assert list(TASKS) == ["dn_gray", "dn_rgb", "demosaic", "car", "sr_x2", "sr_x3", "sr_x4"]
    assert VARIANTS is TASKS and degradations.TASKS is TASKS and train_config.TASKS is TASKS
    assert get_variant_spec("car") is get_task("car")


def test_protocols_come_from_the_registry():
    for name, task in TASKS.items():
        assert protocol_for(name) == (task.crop_border, task.y_channel)
        proto = protocol_for(name)
        assert (proto.crop_border, proto.y_channel) == (task.crop_border, task.y_channel)
    assert validation.image_psnr is evaluate.image_psnr  # training validates by eval's protocol
    assert tasks_with(setting="sigma") == ["dn_gray", "dn_rgb"]
    assert tasks_with(setting="quality") == ["car"]
    assert set(SETTINGS) == {"sigma", "quality"}


def test_task_properties():
    def having(prop):
        return [name for name, task in TASKS.items() if getattr(task, prop)]

    assert having("is_sr") == ["sr_x2", "sr_x3", "sr_x4"]
    assert having("bayer_input") == ["demosaic"]
    assert having("jpeg_input") == having("gray_is_y") == ["car"]
    assert all(TASKS[name].setting == "quality" for name in having("jpeg_input"))


def test_unlisted_tasks_are_refused():
    for name in ("sr_x8", "sr_x1", "dn_cmyk", None):
        with pytest.raises(ConfigError, match="unknown task"):
            get_task(name)


@pytest.mark.parametrize("command", ["eval", "degrade", "train"])
def test_cli_choices_are_the_registry(command):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.choices and command in a.choices).choices[command]
    task_action = next(a for a in sub._actions if a.dest == "task")
    assert list(task_action.choices) == list(TASKS)
