"""Training floor: trainer, optimizers, learning-rate schedules."""
