"""Learning-rate schedules.

The paper's schedule: ``lr = 1e-4 * 0.5 ** floor(step / 2e5)`` (halved every 2x10^5 steps),
a staircase :class:`keras.optimizers.schedules.ExponentialDecay`, so it serializes with the
optimizer and depends only on the optimizer's iteration counter (a resumed run gets the same
learning rate). Short runs scale ``decay_steps`` (``--lr-decay-scale``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras

if TYPE_CHECKING:
    from rnan_keras.training.config import TrainConfig


def paper_schedule(initial_lr: float = 1e-4, decay_steps: int = 200_000,
                   factor: float = 0.5) -> keras.optimizers.schedules.LearningRateSchedule:
    """``initial_lr * factor ** floor(step / decay_steps)``."""
    return keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate=float(initial_lr), decay_steps=int(decay_steps),
        decay_rate=float(factor), staircase=True,
    )


def make_optimizer(config: TrainConfig) -> keras.optimizers.Optimizer:
    """Adam(0.9, 0.999, 1e-8) on the step schedule; loss-scaled under mixed precision."""
    opt = keras.optimizers.Adam(
        learning_rate=paper_schedule(config.lr, config.effective_decay_steps),
        beta_1=0.9, beta_2=0.999, epsilon=1e-8,
    )
    if config.mixed_precision:
        opt = keras.optimizers.LossScaleOptimizer(opt)
    return opt
