"""Basic models for simple tasks (T2T's ``models/basic.py``): ``basic_fc_relu``.

Also home of ``initializer_from_hparams``, T2T's ``hparams.initializer`` names as Keras
initializers, which the image models here share.
"""

import keras
import tensorflow as tf

from t2x import registry
from t2x.model import T2XModel


def initializer_from_hparams(hparams):
    """The kernel initializer named by ``hparams.initializer`` (T2T's
    ``optimize.get_variable_initializer``), scaled by ``hparams.initializer_gain``, as a
    Keras config to pass to layers' ``kernel_initializer``.

    A config, not an instance, on purpose: a Keras 3 initializer *instance* without a seed
    draws the same values every time it is called, so one instance shared by two layers of
    one shape gives them identical kernels (two shake-shake branches would be one branch
    twice). From a config each layer builds its own instance and its own seed
    (reproducible under ``keras.utils.set_random_seed``).

    T2T set the initializer as the default of every variable; Keras sets it per layer. An
    empty name gives Keras's default (glorot_uniform); ``uniform_unit_scaling`` with gain 1
    *is* glorot_uniform.
    """
    name = hparams.get("initializer") or ""
    gain = float(hparams.get("initializer_gain", 1.0))
    if not name:
        initializer = keras.initializers.GlorotUniform()
    elif name == "orthogonal":
        initializer = keras.initializers.Orthogonal(gain=gain)
    elif name == "uniform":
        initializer = keras.initializers.RandomUniform(-0.1 * gain, 0.1 * gain)
    elif name == "normal_unit_scaling":
        initializer = keras.initializers.VarianceScaling(gain, mode="fan_avg",
                                                         distribution="truncated_normal")
    elif name == "uniform_unit_scaling":
        initializer = keras.initializers.VarianceScaling(gain, mode="fan_avg", distribution="uniform")
    elif name == "xavier":
        initializer = keras.initializers.GlorotUniform()
    else:
        raise ValueError(f"hparams.initializer={name!r} is not known; use one of orthogonal, "
                         "uniform, normal_unit_scaling, uniform_unit_scaling, xavier (or '' for "
                         "Keras's default)")
    return keras.initializers.serialize(initializer)


@registry.register_model(default_hparams_set="basic_fc_small")
class BasicFcRelu(T2XModel):
    """Fully connected + ReLU (T2T's ``BasicFcRelu``).

    Body: ``inputs`` ``[B, H, W, C]`` -> flattened ``[B, H*W*C]`` -> ``num_hidden_layers`` x
    (dense ``hidden_size`` -> dropout ``dropout`` -> relu) -> ``[B, 1, 1, hidden_size]``
    (4-D, as T2T returned it; the class-label top pools it to ``[B, hidden_size]``).
    """

    def build_body(self):
        # build_body runs outside call(): self.hparams are the eval hparams there (dropout 0),
        # so layer rates come from the training hparams; Dropout is a no-op in eval anyway.
        hp = self.train_hparams
        init = initializer_from_hparams(hp)
        self.flatten = keras.layers.Flatten(name="flatten")
        self.hidden_layers = [keras.layers.Dense(hp.hidden_size, kernel_initializer=init,
                                                 name=f"layer_{i}")
                              for i in range(hp.num_hidden_layers)]
        self.dropouts = [keras.layers.Dropout(hp.dropout, name=f"dropout_{i}") if hp.dropout else None
                         for i in range(hp.num_hidden_layers)]

    def body(self, features):
        """``inputs`` float ``[B, H, W, C]`` -> ``[B, 1, 1, hidden_size]``."""
        x = self.flatten(features["inputs"])
        for dense, dropout in zip(self.hidden_layers, self.dropouts):
            x = dense(x)
            if dropout is not None:
                x = dropout(x, training=self._training)
            x = tf.nn.relu(x)
        return x[:, None, None, :]
