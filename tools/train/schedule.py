"""schedule.py: the learning-rate schedule all stages share: linear warm-up over the first steps,
then cosine decay to 10% over the stage's time budget (training runs for a wall-clock budget)."""
import math

WARMUP_STEPS = 100


def lr_at(base, step, time_fraction):
    warm = min(1.0, (step + 1) / WARMUP_STEPS)
    decay = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, max(0.0, time_fraction))))
    return base * warm * decay
