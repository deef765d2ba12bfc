"""Training floor (6): the outer loop (trainer, steps, schedules, checkpoints, summaries,
preemption, selection), the evaluator, optimizers, learning-rate schedules, options."""
