"""Speech recognition from recordings on disk: the Free Spoken Digit Dataset and your own files.

``speech_fsdd``: FSDD's ``recordings/`` folder (``{digit}_{speaker}_{index}.wav``, 8 kHz mono)
in ``--tmp_dir`` (or ``--tmp_dir`` itself, or the GitHub archive's
``free-spoken-digit-dataset-master/recordings``). The target is the digit as an English
word ("zero" ... "nine"), so WER is the word error rate of one-word utterances. Splits:

* ``SpeechFsdd.split = "official"`` (default): FSDD's own, recordings with index 0-4 are the
  test set (300), 5-49 train (2,700). FSDD has no dev set: the 300 test recordings are
  written as both ``dev`` (what evaluation during training reads) and ``test``.
* ``SpeechFsdd.split = "speaker"``: every recording of one speaker held out
  (``SpeechFsdd.held_out_speaker``, default the 6th speaker in sorted order) as ``dev`` and
  ``test``; the other five speakers train. Its shards are named
  ``speech_fsdd_heldout_<speaker>`` so that the two splits never share a ``data_dir`` file.

``speech_from_files``: ``SpeechFromFiles.train_tsv`` and ``SpeechFromFiles.dev_tsv``, files of
``path<TAB>transcript`` lines (``columns`` picks two other columns of a wider TSV, ``header``
skips a first line); relative paths are resolved against the TSV's folder; any rate (resampled
to ``SpeechFromFiles.sample_rate``, default 16000). Transcripts may hold printable ASCII
(``SpeechFromFiles.alphabet``); ``lowercase`` and ``strip_punctuation`` normalise them.

    t2x-trainer --generate_data --problem=speech_from_files --model=transformer \\
        --hparams_set=transformer_librispeech_tiny \\
        --gin_param="SpeechFromFiles.train_tsv='train.tsv'" \\
        --gin_param="SpeechFromFiles.dev_tsv='dev.tsv'" --gin_param="SpeechFromFiles.sample_rate=8000"
"""

import os
import re
import string
from typing import Optional, Sequence

import gin

from t2x import registry
from t2x.data import text_lines
from t2x.data.problem import DatasetSplit, ProblemConfigError, SplitSpec
from t2x.data.speech_problem import PRINTABLE_ASCII, SpeechRecognitionProblem
from t2x.errors import DataError, DataMissingError

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_FSDD_NAME = re.compile(r"^([0-9])_([A-Za-z0-9]+)_([0-9]+)\.wav$")


def find_fsdd_recordings(tmp_dir: str) -> str:
    """The folder of FSDD's ``*.wav`` recordings under ``tmp_dir``, or DataMissingError."""
    candidates = [os.path.join(tmp_dir, "recordings"), tmp_dir,
                  os.path.join(tmp_dir, "free-spoken-digit-dataset-master", "recordings")]
    for folder in candidates:
        if os.path.isdir(folder) and any(_FSDD_NAME.match(n) for n in os.listdir(folder)):
            return folder
    raise DataMissingError(f"no FSDD recordings ({{digit}}_{{speaker}}_{{index}}.wav) in {tmp_dir} or its "
                           "recordings/ folder: put FSDD's recordings/ folder there (github.com/Jakobovski/"
                           "free-spoken-digit-dataset) and pass it as --tmp_dir")


def fsdd_recordings(folder: str):
    """``[(digit, speaker, index, path)]`` of every FSDD recording in ``folder``, sorted."""
    found = []
    for name in sorted(os.listdir(folder)):
        match = _FSDD_NAME.match(name)
        if match:
            found.append((int(match.group(1)), match.group(2), int(match.group(3)), os.path.join(folder, name)))
    return sorted(found, key=lambda r: (r[1], r[0], r[2]))


@registry.register_problem
@gin.configurable
class SpeechFsdd(SpeechRecognitionProblem):
    """FSDD: spoken digits (8 kHz), the digit as a word."""

    sample_rate = 8000
    alphabet = string.ascii_lowercase
    train_shards = 4

    def __init__(self, was_reversed: bool = False, was_copy: bool = False, *, split: str = "official",
                 held_out_speaker: Optional[str] = None):
        super().__init__(was_reversed=was_reversed, was_copy=was_copy)
        if split not in ("official", "speaker"):
            raise ProblemConfigError(f"SpeechFsdd.split={split!r}: use 'official' (index 0-4 test) or "
                                     "'speaker' (one speaker held out)")
        self.split, self.held_out_speaker = split, held_out_speaker

    @property
    def dataset_splits(self):
        return [SplitSpec(DatasetSplit.TRAIN, self.train_shards), SplitSpec(DatasetSplit.EVAL, 1),
                SplitSpec(DatasetSplit.TEST, 1)]

    def dataset_filename(self) -> str:
        if self.split == "speaker":
            return f"{self.name}_heldout_{self.held_out_speaker or 'sixth'}"
        return self.name

    def held_out(self, speakers: Sequence[str]) -> str:
        """The held-out speaker of the speaker split: ``held_out_speaker`` or the 6th sorted."""
        speakers = sorted(set(speakers))
        if self.held_out_speaker is not None:
            if self.held_out_speaker not in speakers:
                raise ProblemConfigError(f"SpeechFsdd.held_out_speaker={self.held_out_speaker!r} is not a speaker "
                                         f"of the recordings: use one of {', '.join(speakers)}")
            return self.held_out_speaker
        if len(speakers) < 6:
            raise ProblemConfigError(f"the speaker split holds out the 6th speaker in sorted order, but the "
                                     f"recordings have {len(speakers)} ({', '.join(speakers)}): set "
                                     "--gin_param=\"SpeechFsdd.held_out_speaker='name'\"")
        return speakers[5]

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        recordings = fsdd_recordings(find_fsdd_recordings(tmp_dir))
        train = dataset_split == DatasetSplit.TRAIN
        if self.split == "speaker":
            held = self.held_out([r[1] for r in recordings])
            chosen = [r for r in recordings if (r[1] != held) == train]
        else:
            chosen = [r for r in recordings if (r[2] >= 5) == train]
        for digit, _, _, path in chosen:
            yield {"audio": path, "transcript": DIGIT_WORDS[digit], "where": path}


@registry.register_problem
@gin.configurable
class SpeechFromFiles(SpeechRecognitionProblem):
    """Recordings listed in TSV files with their transcripts."""

    def __init__(self, was_reversed: bool = False, was_copy: bool = False, *,
                 train_tsv: Optional[str] = None, dev_tsv: Optional[str] = None, sample_rate: int = 16000,
                 alphabet: Optional[str] = PRINTABLE_ASCII, lowercase: bool = False,
                 strip_punctuation: bool = False, columns: Sequence[int] = (0, 1), header: bool = False,
                 train_shards: int = 4):
        super().__init__(was_reversed=was_reversed, was_copy=was_copy)
        self.train_tsv, self.dev_tsv = train_tsv, dev_tsv
        self.sample_rate, self.alphabet = int(sample_rate), alphabet
        self.lowercase, self.strip_punctuation = lowercase, strip_punctuation
        self.columns, self.header, self.train_shards = tuple(columns), header, train_shards

    def normalize_transcript(self, text: str) -> str:
        if self.lowercase:
            text = text.lower()
        if self.strip_punctuation:
            text = "".join(c for c in text if c not in string.punctuation or c == "'")
        return super().normalize_transcript(text)

    def _tsv(self, dataset_split: str) -> str:
        attr = "train_tsv" if dataset_split == DatasetSplit.TRAIN else "dev_tsv"
        value = getattr(self, attr)
        fix = f"--gin_param=\"SpeechFromFiles.{attr}='list.tsv'\" (lines of path<TAB>transcript)"
        if not value:
            raise ProblemConfigError(f"SpeechFromFiles.{attr} is not set; pass {fix}")
        return text_lines.check_readable(value, f"SpeechFromFiles.{attr}", f"pass {fix}")

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        path = self._tsv(dataset_split)
        folder = os.path.dirname(os.path.abspath(path))
        want = max(self.columns) + 1
        for n, line in text_lines.read_lines(path, "SpeechFromFiles", "a UTF-8 TSV of path<TAB>transcript"):
            if (n == 1 and self.header) or not line.strip():
                continue
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) < want:
                raise DataError(f"{path}:{n}: expected {want} tab-separated fields (path<TAB>transcript), got "
                                f"{len(fields)}: {line[:60]!r}")
            audio_path = os.path.expanduser(fields[self.columns[0]].strip())
            if not os.path.isabs(audio_path):
                audio_path = os.path.join(folder, audio_path)
            if not os.path.isfile(audio_path):
                raise DataError(f"{path}:{n}: audio file {audio_path} does not exist; fix the path (relative "
                                "paths are read from the TSV's folder) or remove the line")
            yield {"audio": audio_path, "transcript": fields[self.columns[1]], "where": f"{path}:{n}"}

    def num_samples(self, data_dir, tmp_dir, dataset_split):
        """The TSV's lines (an upper bound: blank lines and a header are skipped)."""
        value = self.train_tsv if dataset_split == DatasetSplit.TRAIN else self.dev_tsv
        path = os.path.expanduser(value) if value else None
        if not path or not os.path.isfile(path):
            return None
        with open(path, "rb") as f:
            return sum(1 for _ in f)
