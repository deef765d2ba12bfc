"""MNIST and Fashion-MNIST from their four IDX gzip files.

train = the 60,000 training images, dev = the 10,000 test images, 10 classes (T2T's split).
The original MNIST host (yann.lecun.com) answers 403 now: the mirrors below serve the same
file names and bytes, and every file is checked against its sha256.
"""

from t2x import registry
from t2x.data.image import IdxImage2ClassProblem, idx_sources

MNIST_MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

# (file name, sha256 of the gzip file, sha256 of its decompressed content: a re-compressed
# copy with the same content is accepted).
MNIST_FILES = {
    "train_images": ("train-images-idx3-ubyte.gz",
                     "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                     "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "train_labels": ("train-labels-idx1-ubyte.gz",
                     "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                     "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "test_images": ("t10k-images-idx3-ubyte.gz",
                    "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "test_labels": ("t10k-labels-idx1-ubyte.gz",
                    "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}

FASHION_MNIST_MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)

# Same remote names as MNIST, different bytes: stored as fashion-<name> in --tmp_dir (as T2T).
FASHION_MNIST_FILES = {
    "train_images": ("train-images-idx3-ubyte.gz",
                     "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
    "train_labels": ("train-labels-idx1-ubyte.gz",
                     "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
    "test_images": ("t10k-images-idx3-ubyte.gz",
                    "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
    "test_labels": ("t10k-labels-idx1-ubyte.gz",
                    "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
}


@registry.register_problem
class ImageMnist(IdxImage2ClassProblem):
    """MNIST handwritten digits, 28x28 gray, 10 classes."""

    source_files = idx_sources(MNIST_FILES, MNIST_MIRRORS)


@registry.register_problem
class ImageFashionMnist(IdxImage2ClassProblem):
    """Fashion-MNIST (Zalando), 28x28 gray, 10 clothing classes."""

    class_labels = ("t-shirt/top", "trouser", "pullover", "dress", "coat",
                    "sandal", "shirt", "sneaker", "bag", "ankle boot")
    source_files = idx_sources(FASHION_MNIST_FILES, FASHION_MNIST_MIRRORS, local_prefix="fashion-")
