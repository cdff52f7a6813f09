"""Learning-rate schedules.

The paper's schedule: ``lr = 1e-4 * 0.5 ** floor(step / 2e5)`` (halved every 2x10^5 steps),
a staircase :class:`keras.optimizers.schedules.ExponentialDecay`, so it serializes with the
optimizer and depends only on the optimizer's iteration counter (a resumed run gets the same
learning rate). Short runs scale ``decay_steps`` (``--lr-decay-scale``).
"""

from __future__ import annotations

import keras


def paper_schedule(initial_lr: float = 1e-4, decay_steps: int = 200_000,
                   factor: float = 0.5) -> keras.optimizers.schedules.LearningRateSchedule:
    """``initial_lr * factor ** floor(step / decay_steps)``."""
    return keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate=float(initial_lr), decay_steps=int(decay_steps),
        decay_rate=float(factor), staircase=True,
    )
