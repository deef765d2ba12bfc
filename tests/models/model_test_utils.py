"""Helpers shared by the model tests: random MNIST-shaped batches and a tiny training loop."""

import keras
import numpy as np
import tensorflow as tf

def mnist_features(batch, seed=0):
    rng = np.random.RandomState(seed)
    return {"inputs": tf.constant(rng.randn(batch, 28, 28, 1).astype(np.float32)),
            "targets": tf.constant(rng.randint(0, 10, size=(batch, 1)), tf.int64)}


def train_losses(model, features, steps, learning_rate=1e-3):
    """Adam on one fixed batch, compiled; the training loss per step."""
    model(features, training=True)  # creates the variables outside the tf.function
    optimizer = keras.optimizers.Adam(learning_rate)

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            num, den = model.loss_fn(model(features, training=True), features)
            loss = num / den
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return [float(train_step()) for _ in range(steps)]


def overfit_losses(model, steps, seed=0):
    """Adam 1e-3 on 16 random images with random labels; the training loss per step."""
    return train_losses(model, mnist_features(16, seed), steps)
