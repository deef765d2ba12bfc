"""Reuse of an exported model as a module (the seed's TF Hub workflow, with Keras 3's
``TFSMLayer``): ``saved_model_classifier``.

    t2x-exporter --output_dir=RUN_A                       # RUN_A/export/<step>/saved_model
    t2x-trainer --problem=image_fashion_mnist --model=saved_model_classifier \\
        --hparams="feature_extractor=RUN_A/export/2000/saved_model,fine_tune_features=false"

The body is the export's ``features`` signature (the trained body of the first model,
standardized images in, its last hidden layer out), loaded with
``keras.layers.TFSMLayer``: frozen by default, trained with ``fine_tune_features=true``.
The top is the new problem's class-label modality (pooling + dense logits), as for any
model. On a problem whose inputs are cached features (``image_bottlenecks``, the
"bottlenecks" of TF Hub's retraining example: the extractor run once over the dataset),
the body is the identity, so the same top trains on the cache.
"""

import keras
import tensorflow as tf

from t2x import registry
from t2x.hparams.basic import basic_params1
from t2x.model import T2XModel
from t2x.data.problem import ModalityType
from t2x.errors import ConfigError


@registry.register_model(default_hparams_set="saved_model_classifier")
class SavedModelClassifier(T2XModel):
    """A SavedModel's ``features`` signature (frozen or fine-tuned) + a class-label top."""

    def build_body(self):
        hp = self.train_hparams
        self.cached = self.problem_hparams.modality.get("inputs") == ModalityType.IDENTITY
        self.extractor = None
        if not self.cached:
            path = hp.get("feature_extractor", "")
            if not path:
                raise ConfigError("saved_model_classifier needs --hparams=feature_extractor=<export>/saved_model "
                                  "(t2x-exporter's output)")
            if not tf.saved_model.contains_saved_model(path):
                raise ConfigError(f"feature_extractor={path} is not a SavedModel directory "
                                  "(t2x-exporter writes <run>/export/<step>/saved_model)")
            self.extractor = keras.layers.TFSMLayer(path, call_endpoint="features",
                                                    trainable=bool(hp.get("fine_tune_features", False)),
                                                    name="feature_extractor")

    def body(self, features):
        """``inputs`` standardized images ``[B, H, W, C]`` (or cached features ``[B, D]``)
        -> ``[B, 1, 1, D]``."""
        x = features["inputs"]
        if self.extractor is not None:
            x = self.extractor(tf.cast(x, tf.float32))["features"]
        x = tf.reshape(x, [tf.shape(x)[0], -1])
        return x[:, None, None, :]


@registry.register_hparams
def saved_model_classifier():
    """Adam at a constant 1e-3, batch 128; ``feature_extractor`` (a SavedModel path) and
    ``fine_tune_features`` (train the extractor's weights too)."""
    hp = basic_params1()
    hp.batch_size = 128
    hp.hidden_size = 64
    hp.learning_rate_schedule = "constant"
    hp.learning_rate_constant = 1e-3
    hp.add_hparam("feature_extractor", "")
    hp.add_hparam("fine_tune_features", False)
    return hp
