"""shake_shake: the T2T hparams sets, the shake (forward alpha, backward beta), the 0.5/0.5
eval mix, T2T's two-path skip, the size of Shake-Shake 26 2x32d, and that it can learn."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from model_test_utils import mnist_features, overfit_losses, train_losses
from t2x import registry
from t2x.hparam import HParams
from t2x.model import model_for
from t2x.models.shake_shake import (ShakeShake, ShakeShakeBlock, ShakeShakeSkip, shake,
                                    shake_shake_weights)


@pytest.fixture(scope="module")
def mnist_hparams():
    return registry.problem("image_mnist").get_hparams()




def tiny_model(mnist_hparams, **overrides):
    hp = registry.hparams("shake_shake_tiny")()
    hp.override_from_dict(overrides)
    return model_for("shake_shake", hp, mnist_hparams)




# ------------------------------------------------------------------------- registry --

def test_registered_model_and_sets():
    assert registry.model("shake_shake") is ShakeShake
    for name in ("shakeshake_small", "shake_shake_quick", "shakeshake_big", "shakeshake_tpu",
                 "shake_shake_tiny"):
        assert isinstance(registry.hparams(name)(), HParams), name


def test_shakeshake_small_has_t2t_values():
    hp = registry.hparams("shakeshake_small")()
    assert (hp.batch_size, hp.hidden_size, hp.num_hidden_layers) == (128, 32, 26)
    assert (hp.optimizer, hp.optimizer_momentum_momentum) == ("momentum", 0.9)
    assert (hp.learning_rate, hp.weight_decay, hp.clip_grad_norm) == (0.2, 1e-4, 0.0)
    assert (hp.learning_rate_schedule, hp.learning_rate_decay_scheme) == ("legacy", "cosine")
    assert (hp.learning_rate_cosine_cycle_steps, hp.learning_rate_warmup_steps) == (700000, 100)
    assert (hp.initializer, hp.initializer_gain) == ("uniform_unit_scaling", 1.0)
    assert (hp.dropout, hp.layer_prepostprocess_dropout, hp.label_smoothing) == (0.0, 0.0, 0.0)
    assert (hp.shake_shake_num_branches, hp.shake_shake_concat) == (2, 0)


def test_quick_and_big_sets_have_t2t_values():
    quick = registry.hparams("shake_shake_quick")()
    assert (quick.optimizer, quick.learning_rate, quick.batch_size) == ("adam", 0.5, 100)
    assert quick.learning_rate_cosine_cycle_steps == 1000
    assert quick.num_hidden_layers == 26 and quick.hidden_size == 32
    assert registry.hparams("shakeshake_big")().hidden_size == 96
    tpu = registry.hparams("shakeshake_tpu")()
    assert (tpu.learning_rate, tpu.learning_rate_cosine_cycle_steps) == (0.6, 180000)


def test_quick_effective_adam_peak_is_1e_3():
    learning_rate = pytest.importorskip("t2x.training.learning_rate")
    lr = learning_rate.learning_rate_schedule(registry.hparams("shake_shake_quick")(), train_steps=1000)
    peak = 0.5 * 0.002  # T2T's legacy Adam factor
    assert float(lr(0)) == pytest.approx(0.01 * peak, rel=1e-4)  # exponential warmup from 1%
    cosine_at_100 = 0.5 * (1 + np.cos(np.pi * 100 / 1000))
    assert float(lr(100)) == pytest.approx(peak * cosine_at_100, rel=1e-4)  # end of warmup
    assert float(lr(1000)) == pytest.approx(0.0, abs=1e-9)  # bottom of the cosine cycle
    assert float(lr(2000)) == pytest.approx(peak, rel=1e-4)  # top of the next cycle


# ------------------------------------------------------------------------- the shake --

def test_shake_forward_uses_alpha_and_gradient_uses_beta():
    b1, b2 = tf.constant([[1.0, 2.0]]), tf.constant([[3.0, -1.0]])
    alpha, beta = 0.3, 0.8
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([b1, b2])
        out = tf.add_n(shake([b1, b2], [alpha, 1 - alpha], [beta, 1 - beta]))
        weighted = tf.reduce_sum(out * tf.constant([[1.0, 10.0]]))
    np.testing.assert_allclose(out.numpy(), alpha * b1.numpy() + (1 - alpha) * b2.numpy(), rtol=1e-6)
    np.testing.assert_allclose(tape.gradient(weighted, b1).numpy(), [[beta, 10 * beta]], rtol=1e-6)
    np.testing.assert_allclose(tape.gradient(weighted, b2).numpy(),
                               [[1 - beta, 10 * (1 - beta)]], rtol=1e-6)


def test_random_weights_per_example_sum_to_one_and_alpha_is_uniform():
    tf.random.set_seed(3)
    w1, w2 = shake_shake_weights(20000, 2)
    assert w1.shape == (20000, 1, 1, 1)
    np.testing.assert_allclose((w1 + w2).numpy(), 1.0, rtol=1e-5)
    alpha = w1.numpy().ravel()
    assert 0.0 < alpha.min() and alpha.max() < 1.0
    # U(0, 1): every quarter holds a quarter (T2T's u1/(u1+u2) would put ~16% in [0, .25)).
    quarters = np.histogram(alpha, bins=[0, 0.25, 0.5, 0.75, 1.0])[0] / alpha.size
    np.testing.assert_allclose(quarters, 0.25, atol=0.015)
    three = shake_shake_weights(5, 3)
    np.testing.assert_allclose(tf.add_n(three).numpy(), 1.0, rtol=1e-5)


def _block_and_input(in_filters, filters, stride, seed=0):
    keras.utils.set_random_seed(seed)
    block = ShakeShakeBlock(in_filters, filters, stride)
    x = tf.constant(np.random.RandomState(seed).randn(4, 8, 8, in_filters).astype(np.float32))
    block(x, training=False)  # build
    return block, x


@pytest.mark.parametrize("in_filters,filters,stride", [(16, 32, 2), (8, 8, 1)])
def test_block_eval_is_half_of_each_branch_plus_skip(in_filters, filters, stride):
    block, x = _block_and_input(in_filters, filters, stride)
    out = block(x, training=False)
    b1, b2 = (branch(x, training=False) for branch in block.branches)
    expected = block.shortcut(x, training=False) + 0.5 * (b1 + b2)
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)
    assert out.shape == (4, 8 // stride, 8 // stride, filters)
    assert (block.skip is None) == (in_filters == filters and stride == 1)


def test_block_training_forward_uses_alpha_per_example():
    block, x = _block_and_input(16, 32, 2)
    alpha = tf.constant([0.1, 0.4, 0.7, 0.95])[:, None, None, None]
    beta = tf.constant([0.5, 0.2, 0.9, 0.3])[:, None, None, None]
    out = block(x, training=True, shake_weights=([alpha, 1 - alpha], [beta, 1 - beta]))
    b1, b2 = (branch(x, training=True) for branch in block.branches)
    expected = block.shortcut(x, training=True) + alpha * b1 + (1 - alpha) * b2
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)


def test_block_gradients_depend_on_beta_not_alpha():
    block, x = _block_and_input(16, 32, 2)
    upstream = tf.constant(np.random.RandomState(1).randn(4, 4, 4, 32).astype(np.float32))

    def grads(alpha, beta):
        with tf.GradientTape() as tape:
            out = block(x, training=True, shake_weights=([alpha, 1 - alpha], [beta, 1 - beta]))
            loss = tf.reduce_sum(out * upstream)
        return out, tape.gradient(loss, block.trainable_variables)

    out_a, grads_a = grads(0.2, 0.7)
    out_b, grads_b = grads(0.9, 0.7)  # another alpha, same beta: same gradients
    out_c, grads_c = grads(0.2, 0.1)  # same alpha, another beta: same output
    assert not np.allclose(out_a.numpy(), out_b.numpy())
    np.testing.assert_allclose(out_a.numpy(), out_c.numpy(), rtol=1e-5, atol=1e-5)
    names = [v.path for v in block.trainable_variables]
    for name, ga, gb, gc in zip(names, grads_a, grads_b, grads_c):
        np.testing.assert_allclose(ga.numpy(), gb.numpy(), rtol=1e-4, atol=1e-4, err_msg=name)
        if "branch" in name:
            assert not np.allclose(ga.numpy(), gc.numpy(), rtol=1e-4, atol=1e-5), name


def test_skip_is_t2t_two_path_shortcut():
    keras.utils.set_random_seed(0)
    skip = ShakeShakeSkip(4, 2)
    x = tf.reshape(tf.range(1 * 4 * 4 * 2, dtype=tf.float32), [1, 4, 4, 2])
    skip(x)
    ones = lambda conv: conv.kernel.assign(tf.ones_like(conv.kernel))  # noqa: E731
    ones(skip.path1_conv), ones(skip.path2_conv)
    out = skip(x, training=False).numpy()  # fresh bn in eval: x / sqrt(1 + eps)
    xs = x.numpy()
    path1 = xs[:, ::2, ::2, :].sum(-1)  # pixels (0,0), (0,2), (2,0), (2,2)
    shifted = np.pad(xs, [[0, 0], [0, 1], [0, 1], [0, 0]])[:, 1:, 1:, :]
    path2 = shifted[:, ::2, ::2, :].sum(-1)  # pixels (1,1), (1,3), (3,1), (3,3)
    scale = 1.0 / np.sqrt(1.0 + 1e-3)
    np.testing.assert_allclose(out[..., 0], path1 * scale, rtol=1e-5)
    np.testing.assert_allclose(out[..., 2], path2 * scale, rtol=1e-5)
    assert path2[0, 1, 1] == xs[0, 3, 3].sum() and path2[0, 0, 0] == xs[0, 1, 1].sum()
    # An odd size shows the zero padding: the last row and column of the shift are 0.
    x5 = tf.ones([1, 5, 5, 2])
    out5 = skip(x5, training=False).numpy()[0, :, :, 2] / scale
    np.testing.assert_allclose(out5, [[2, 2, 0], [2, 2, 0], [0, 0, 0]], atol=1e-5)


def test_block_training_graph_is_lean():
    """The step's graph: the block's input goes through one ReLU for both branches, the
    strided skip has no strided-slice gradient, and each branch's shake is one multiply
    forward (no stop_gradient construction: its gradient, by beta, is tested above)."""
    block, x = _block_and_input(16, 32, 2)
    alpha = tf.constant([0.1, 0.4, 0.7, 0.95])[:, None, None, None]
    beta = tf.constant([0.5, 0.2, 0.9, 0.3])[:, None, None, None]

    @tf.function
    def step(inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            out = block(inputs, training=True, shake_weights=([alpha, 1 - alpha], [beta, 1 - beta]))
        return tape.gradient(tf.reduce_sum(out), [inputs] + block.trainable_variables)

    ops = step.get_concrete_function(tf.TensorSpec(x.shape, tf.float32)).graph.get_operations()
    types = [op.type for op in ops]
    relus_of_input = [op for op in ops if op.type == "Relu" and op.inputs[0].op.type == "Placeholder"]
    assert len(relus_of_input) == 1
    assert "StridedSliceGrad" not in types and "StopGradient" not in types
    forward_muls = [op for op in ops if op.type == "Mul" and op.outputs[0].shape.rank == 4]
    assert len(forward_muls) == 2  # one per branch (b * alpha); the backward b * beta is the custom gradient's


# -------------------------------------------------------------------------- the model --

def test_logits_shape_train_and_eval(mnist_hparams):
    model = tiny_model(mnist_hparams)
    features = mnist_features(3)
    assert model(features, training=True).shape == (3, 1, 10)
    assert model(features, training=False).shape == (3, 1, 10)


def test_branches_start_different(mnist_hparams):
    # A shared seedless Keras initializer would give both branches the same kernels, and
    # the shake would then do nothing.
    model = tiny_model(mnist_hparams)
    model(mnist_features(2))
    for block in model.blocks:
        k1, k2 = (b.conv1.kernel.numpy() for b in block.branches)
        assert not np.allclose(k1, k2), block.name


def test_eval_is_deterministic_and_training_is_stochastic(mnist_hparams):
    model = tiny_model(mnist_hparams)
    features = mnist_features(4)
    np.testing.assert_array_equal(model(features).numpy(), model(features).numpy())
    first, second = model(features, training=True), model(features, training=True)
    assert np.abs(first.numpy() - second.numpy()).max() > 1e-4


def test_concat_variant_and_bad_depth(mnist_hparams):
    model = tiny_model(mnist_hparams, shake_shake_concat=1)
    assert model(mnist_features(2), training=True).shape == (2, 1, 10)
    with pytest.raises(ValueError, match="6n \\+ 2"):
        tiny_model(mnist_hparams, num_hidden_layers=10)


def test_shakeshake_small_is_26_layers_2x32d(mnist_hparams):
    model = model_for("shake_shake", registry.hparams("shakeshake_small")(), mnist_hparams)
    features = mnist_features(2)
    assert model(features).shape == (2, 1, 10)
    body = model.body(model.bottom(features))
    assert body.shape == (2, 7, 7, 128)  # 32 -> 64 -> 128 filters, 28 -> 14 -> 7 pixels
    assert len(model.blocks) == 12 and all(len(b.branches) == 2 for b in model.blocks)
    params = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    # Gastaldi (2017), Table 1: Shake-Shake 26 2x32d has 2.9M parameters (CIFAR-10, 3 channels).
    assert 2.85e6 < params < 3.0e6, params
    print(f"shakeshake_small on MNIST: {params:,} trainable parameters")


def test_tiny_overfits_a_tiny_batch(mnist_hparams):
    keras.utils.set_random_seed(1)
    losses = overfit_losses(tiny_model(mnist_hparams), steps=60)
    assert np.mean(losses[-5:]) <= 0.5 * losses[0], losses[::10]


# ------------------------------------------------------------------------- bfloat16 --

def _logits(model, features):
    out = model(features, training=False)
    return tf.cast(out["targets"] if isinstance(out, dict) else out, tf.float32).numpy()


def test_a_bfloat16_checkpoint_restores_into_float32_and_back(mnist_hparams, tmp_path):
    """Trained in bfloat16 (its batch norms on the fused 16-bit kernel), saved, restored
    into a float32 model: the same weights, and eval logits equal to bfloat16 rounding;
    then trained in float32 and restored into bfloat16 again."""
    from t2x.model import checkpoint_weights
    from t2x.runs.checkpoints import restore_weights

    keras.utils.set_random_seed(2)
    features = mnist_features(8, seed=4)
    bf16 = tiny_model(mnist_hparams, activation_dtype="bfloat16")
    losses = train_losses(bf16, features, steps=4)
    assert bf16.compute_dtype == "bfloat16" and all(np.isfinite(losses)), losses
    moving = [w for w in bf16.weights if "moving_mean" in w.path]
    assert moving and all(w.dtype == "float32" for w in moving)
    assert any(np.abs(w.numpy()).max() > 0 for w in moving)  # the fused path updated them
    path = tf.train.Checkpoint(model_weights=checkpoint_weights(bf16)).save(str(tmp_path / "bf16" / "ckpt"))

    f32 = tiny_model(mnist_hparams)
    f32(features, training=False)
    restore_weights(f32, path)
    assert f32.compute_dtype == "float32"
    for a, b in zip(bf16.weights, f32.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    low, full = _logits(bf16, features), _logits(f32, features)
    np.testing.assert_allclose(low, full, atol=0.05 * np.abs(full).max() + 0.05)

    train_losses(f32, features, steps=2)
    path = tf.train.Checkpoint(model_weights=checkpoint_weights(f32)).save(str(tmp_path / "f32" / "ckpt"))
    back = tiny_model(mnist_hparams, activation_dtype="bfloat16")
    back(features, training=False)
    restore_weights(back, path)
    for a, b in zip(f32.weights, back.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_allclose(_logits(back, features), _logits(f32, features),
                               atol=0.05 * np.abs(_logits(f32, features)).max() + 0.05)
