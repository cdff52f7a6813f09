"""Choosing a ``tf.distribute`` strategy for training.

- ``default``: one device (the first GPU if any, else the CPU).
- ``mirrored``: synchronous data parallelism over all local GPUs; with no GPU, over all
  logical CPU devices (tests create two with ``tf.config.set_logical_device_configuration``).
- ``multi-worker``: ``MultiWorkerMirroredStrategy`` across hosts described by ``TF_CONFIG``
  (see ``rnan_keras/training/README.md``). Only the chief (worker 0) writes files.
"""

from __future__ import annotations

import json
import os
import sys

import tensorflow as tf

from rnan_keras.errors import ConfigError


def make_strategy(name: str = "default") -> tf.distribute.Strategy:
    """Return the strategy called ``name``; the batch size given to training is global."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            return tf.distribute.MirroredStrategy([d.name for d in gpus])
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(
            cpus, cross_device_ops=tf.distribute.ReductionToOneDevice()
        )
    if name == "multi-worker":
        if "TF_CONFIG" not in os.environ:
            print(
                "warning: --strategy multi-worker without TF_CONFIG runs as a single worker",
                file=sys.stderr,
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ConfigError(f"unknown strategy {name!r}; choose default, mirrored or multi-worker")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the worker that writes checkpoints, logs and models (always true locally)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        tf_config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
        task = tf_config.get("task", {})
        if not task:
            return True
        return task.get("type") == "chief" or (
            task.get("type") == "worker" and int(task.get("index", 0)) == 0
            and "chief" not in tf_config.get("cluster", {})
        )
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief
