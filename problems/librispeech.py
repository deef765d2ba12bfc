"""LibriSpeech (Panayotov et al. 2015; T2T's ``librispeech`` problems), 16 kHz read English.

Raw data: OpenSLR resource 12, T2T's URLs, each tarball checked by sha256 (the repo's
downloader: a file already in ``--tmp_dir`` with the right checksum is used as is; offline,
the error names the missing tarballs and the folder to put them in). An already extracted
``<tmp_dir>/LibriSpeech/<subset>/`` folder is read as it is, without its tarball.

Layout (the release's): ``LibriSpeech/<subset>/<speaker>/<chapter>/`` holds
``<speaker>-<chapter>-<utterance>.flac`` recordings and one ``<speaker>-<chapter>.trans.txt``
of ``<utterance id> <TRANSCRIPT>`` lines (upper-case letters, apostrophes, spaces). A
transcript line whose recording is missing is a one-line error naming ``file:line``.

=======================  ===============================================  =============  ============
problem                  train                                            dev            test
=======================  ===============================================  =============  ============
librispeech_clean_small  train-clean-100                                  dev-clean      test-clean
librispeech_clean        train-clean-100, train-clean-360                 dev-clean      test-clean
librispeech              train-clean-100, train-clean-360, train-other-500  dev-clean,     test-clean,
                                                                          dev-other      test-other
=======================  ===============================================  =============  ============

Shards: T2T's 100 train, 1 dev, 1 test.
"""

import os
import string
from typing import List, Sequence

from t2x import registry
from t2x.data import download
from t2x.data.problem import DatasetSplit, SplitSpec
from t2x.data.speech_problem import SpeechRecognitionProblem, walk_files
from t2x.errors import DataError

BASE_URL = "http://www.openslr.org/resources/12/"
# sha256 of OpenSLR's tarballs (the digests torchaudio and others verify against).
SHA256 = {
    "train-clean-100": "d4ddd1d5a6ab303066f14971d768ee43278a5f2a0aa43dc716b0e64ecbbbf6e2",
    "train-clean-360": "146a56496217e96c14334a160df97fffedd6e0a04e66b9c5af0d40be3c792ecf",
    "train-other-500": "ddb22f27f96ec163645d53215559df6aa36515f26e01dd70798188350adcb6d2",
    "dev-clean": "76f87d090650617fca0cac8f88b9416e0ebf80350acb97b343a85fa903728ab3",
    "dev-other": "12661c48e8c3fe1de2c1caa4c3e135193bfb1811584f11f569dd12645aa84365",
    "test-clean": "39fde525e59672dc6d1551919b1478f724438a95aa55f874b576be21967e6c23",
    "test-other": "d09c181bba5cf717b3dee7d4d592af11a3ee3a09e08ae025c5506f6ebe961c29",
}


def remote_file(subset: str) -> download.RemoteFile:
    """The tarball of one subset: ``<subset>.tar.gz`` from OpenSLR (T2T's URL, https first)."""
    name = f"{subset}.tar.gz"
    return download.RemoteFile(name, SHA256[subset], (BASE_URL.replace("http:", "https:") + name, BASE_URL + name))


def utterances(subset_dir: str):
    """``(utterance id, flac path, transcript, "file:line")`` of a subset folder, sorted by
    transcript file then line. A line without a transcript or whose ``.flac`` is missing is
    a DataError naming ``file:line``."""
    for trans in walk_files(subset_dir, ".trans.txt"):
        folder = os.path.dirname(trans)
        with open(trans, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                utt_id, _, text = line.strip().partition(" ")
                where = f"{trans}:{n}"
                if not text.strip():
                    raise DataError(f"{where}: expected '<utterance id> <TRANSCRIPT>', got {line.strip()[:60]!r}")
                flac = os.path.join(folder, f"{utt_id}.flac")
                if not os.path.isfile(flac):
                    raise DataError(f"{where}: the recording {flac} of utterance {utt_id} is missing; "
                                    "re-extract the subset's tarball")
                yield utt_id, flac, text, where


class LibrispeechBase(SpeechRecognitionProblem):
    """LibriSpeech subsets by split (``TRAIN``, ``DEV``, ``TEST``: lists of subset names)."""

    sample_rate = 16000
    alphabet = string.ascii_uppercase + "'"
    TRAIN: Sequence[str] = ()
    DEV: Sequence[str] = ()
    TEST: Sequence[str] = ()

    @property
    def dataset_splits(self) -> List[SplitSpec]:
        return [SplitSpec(DatasetSplit.TRAIN, 100), SplitSpec(DatasetSplit.EVAL, 1),
                SplitSpec(DatasetSplit.TEST, 1)]

    def subsets(self, dataset_split: str) -> Sequence[str]:
        return {DatasetSplit.TRAIN: self.TRAIN, DatasetSplit.EVAL: self.DEV, DatasetSplit.TEST: self.TEST}[dataset_split]

    def subset_dir(self, tmp_dir: str, subset: str) -> str:
        """Where a subset's speaker folders are: ``<tmp_dir>/LibriSpeech/<subset>`` (extracted
        by you) or ``<tmp_dir>/librispeech-<subset>/LibriSpeech/<subset>`` (from its tarball)."""
        own = os.path.join(tmp_dir, "LibriSpeech", subset)
        if os.path.isdir(own):
            return own
        return os.path.join(tmp_dir, f"librispeech-{subset}", "LibriSpeech", subset)

    def prepare_data(self, data_dir: str, tmp_dir: str) -> None:
        """Host: every subset not yet extracted is downloaded (checksummed) and extracted
        into its own folder of ``tmp_dir``."""
        wanted = [s for split in (DatasetSplit.TRAIN, DatasetSplit.EVAL, DatasetSplit.TEST)
                  for s in self.subsets(split) if not os.path.isdir(self.subset_dir(tmp_dir, s))]
        if not wanted:
            return
        paths = download.maybe_download_all(tmp_dir, [remote_file(s) for s in wanted])
        for subset, path in zip(wanted, paths):
            dest = os.path.join(tmp_dir, f"librispeech-{subset}")
            download.extract_archive(path, dest)
            if not os.path.isdir(self.subset_dir(tmp_dir, subset)):
                raise DataError(f"{path} has no LibriSpeech/{subset}/ folder: it is not LibriSpeech's "
                                f"{subset} tarball; remove it from {tmp_dir}")

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        for subset in self.subsets(dataset_split):
            for _, flac, text, where in utterances(self.subset_dir(tmp_dir, subset)):
                yield {"audio": flac, "transcript": text, "where": where}


@registry.register_problem
class Librispeech(LibrispeechBase):
    """All 960 hours; dev and test clean and other."""

    TRAIN = ("train-clean-100", "train-clean-360", "train-other-500")
    DEV = ("dev-clean", "dev-other")
    TEST = ("test-clean", "test-other")


@registry.register_problem
class LibrispeechClean(LibrispeechBase):
    """The 460 clean hours; dev-clean, test-clean."""

    TRAIN = ("train-clean-100", "train-clean-360")
    DEV = ("dev-clean",)
    TEST = ("test-clean",)


@registry.register_problem
class LibrispeechCleanSmall(LibrispeechBase):
    """The 100 clean hours; dev-clean, test-clean."""

    TRAIN = ("train-clean-100",)
    DEV = ("dev-clean",)
    TEST = ("test-clean",)
