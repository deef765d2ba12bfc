"""Image generation problems (T2T's ``image_cifar10_plain_gen`` and its MNIST kin).

Each reads the shards of its classification problem (same raw files, same readers, same
TFRecords: ``image_mnist``'s for MNIST, ``image_cifar10``'s for CIFAR-10), so generating one
generates the other. ``preprocess_example`` turns an ``(image, label)`` example into:

* ``targets``: the pixels, int64 ``[H, W, C]``, values 0..255 (no standardization), read by
  the ``image_channel_embeddings`` modality as one symbol per sub-pixel;
* ``inputs`` (class-conditional problems only): the class label ``[1]`` (``class_label``
  modality); unconditional problems have no inputs.

======================================  ===========  =================  ====================
problem                                 image        conditioned on     data (shards of)
======================================  ===========  =================  ====================
``image_mnist_gen``                     28x28x1      nothing            ``image_mnist``
``image_mnist_gen_conditional``         28x28x1      the digit          ``image_mnist``
``image_cifar10_plain_gen``             32x32x3      nothing            ``image_cifar10``
``image_cifar10_plain_gen_conditional`` 32x32x3      the class          ``image_cifar10``
======================================  ===========  =================  ====================

train = the training images, dev = the test images (MNIST's 10,000, CIFAR-10's 10,000).
Evaluation reports ``bits_per_dim`` (teacher-forced negative log-likelihood per sub-pixel,
in bits) and samples images (``t2x.inference.images``).
"""

from t2x import registry
from t2x.data.problem import ModalityType

from t2x.problems.cifar import ImageCifar10Plain
from t2x.problems.mnist import ImageMnist


class ImageGenProblem:
    """Mixin over an ``Image2ClassProblem``: its shards, read as pixel targets (and the
    label as inputs when ``conditional``). Put it first in the bases."""

    conditional = False
    batch_preprocess = True  # a cast and a rename: works on a parse batch

    shards_of = ""  # the classification problem whose shards are read

    def dataset_filename(self) -> str:
        return self.shards_of

    def stored_encoders(self):
        """The encoders of the stored example: image bytes and class label."""
        return super().feature_encoders(None)

    def feature_encoders(self, data_dir):
        del data_dir
        stored = self.stored_encoders()
        encoders = {"targets": stored["inputs"]}
        if self.conditional:
            encoders["inputs"] = stored["targets"]
        return encoders

    def encode_sample(self, sample, encoders):
        del encoders
        return super().encode_sample(sample, self.stored_encoders())

    def hparams(self, defaults, model_hparams):
        del model_hparams
        defaults.modality = {"targets": ModalityType.IMAGE_CHANNEL_EMBEDDINGS}
        defaults.vocab_size = {"targets": 256}
        if self.conditional:
            defaults.modality["inputs"] = ModalityType.CLASS_LABEL
            defaults.vocab_size["inputs"] = self.num_classes
        defaults.set_or_add("image_shape", list(self.image_shape))
        defaults.input_space_id = 3  # T2T's SpaceID.IMAGE_LABEL
        defaults.target_space_id = 1  # T2T's SpaceID.IMAGE

    def preprocess_example(self, example, mode, hparams):
        """Inside ``tf.data``, on a parse batch: ``inputs`` uint8 pixels -> ``targets`` int64
        ``[B, H, W, C]``; the label ``[B, 1]`` -> ``inputs`` when conditional, else dropped."""
        del mode, hparams
        import tensorflow as tf

        out = {"targets": tf.cast(example["inputs"], tf.int64)}
        if self.conditional:
            out["inputs"] = example["targets"]
        return out

    def augment_example(self, example, seed):
        del seed
        return example

    def eval_metrics(self):
        return ["bits_per_dim", "neg_log_perplexity"]


@registry.register_problem
class ImageMnistGen(ImageGenProblem, ImageMnist):
    """MNIST digits, generated unconditionally (the shards of ``image_mnist``)."""

    shards_of = "image_mnist"


@registry.register_problem
class ImageMnistGenConditional(ImageGenProblem, ImageMnist):
    """MNIST digits, generated given their class (the shards of ``image_mnist``)."""

    conditional = True
    shards_of = "image_mnist"


@registry.register_problem
class ImageCifar10PlainGen(ImageGenProblem, ImageCifar10Plain):
    """CIFAR-10 images, generated unconditionally (T2T's ``image_cifar10_plain_gen``; the
    shards of ``image_cifar10``)."""

    shards_of = "image_cifar10"


@registry.register_problem
class ImageCifar10PlainGenConditional(ImageGenProblem, ImageCifar10Plain):
    """CIFAR-10 images, generated given their class (the shards of ``image_cifar10``)."""

    conditional = True
    shards_of = "image_cifar10"
