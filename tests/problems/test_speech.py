"""Speech problems on tiny recordings made here, in the real layouts: FSDD's folder (official
and speaker-held-out splits), TSV lists (speech_from_files) and LibriSpeech's tarball and
extracted tree; every bad input is one line naming the file."""

import hashlib
import os

import numpy as np
import pytest

from speech_test_utils import SPEAKERS, fsdd_folder, librispeech_tarball, librispeech_tree, tone_steps, write_wav
from t2x import registry
from t2x.data.download import DownloadError
from t2x.data.problem import Mode
from t2x.data.problem import ProblemConfigError
from t2x.errors import DataError, DataMissingError
from t2x.problems import librispeech as librispeech_module
from t2x.problems.speech import SpeechFromFiles, SpeechFsdd


def records(problem, data_dir, split):
    """[(number of int16 samples, rate, transcript)] of a split's shards, in file order."""
    out = []
    encoder = problem.get_feature_encoders(data_dir)["targets"]
    for batch in problem.read(Mode.EVAL, data_dir, dataset_split=split, deterministic=True).as_numpy_iterator():
        targets = batch["targets"]
        rows = targets.to_list() if hasattr(targets, "to_list") else [list(t) for t in targets]
        for wave, rate, ids in zip(batch["waveform"], batch["sample_rate"], rows):
            out.append((len(wave) // 2, int(rate), encoder.decode(ids[:-1])))
    return out


@pytest.fixture(scope="module")
def fsdd(tmp_path_factory):
    return fsdd_folder(tmp_path_factory.mktemp("fsdd"), digits=3, indices=range(7))


def test_fsdd_official_split_by_index_with_words_as_targets(fsdd, tmp_path):
    problem = registry.problem("speech_fsdd")
    problem.generate_data(str(tmp_path), fsdd)
    train, dev, test = (records(problem, str(tmp_path), s) for s in ("train", "dev", "test"))
    assert len(train) == 3 * 6 * 2 and len(dev) == len(test) == 3 * 6 * 5  # index 5-6 train, 0-4 test
    assert sorted(dev) == sorted(test)
    assert {r[2] for r in train} == {"zero", "one", "two"} and {r[1] for r in train} == {8000}
    assert problem.get_hparams().modality == {"inputs": "speech", "targets": "symbol"}
    assert sorted(os.listdir(tmp_path))[0].startswith("speech_fsdd-dev")


def test_fsdd_speaker_split_holds_out_the_sixth_speaker_or_the_named_one(fsdd, tmp_path):
    problem = SpeechFsdd(split="speaker")
    assert problem.dataset_filename() == "speech_fsdd_heldout_sixth"
    problem.generate_data(str(tmp_path / "a"), fsdd)
    assert len(records(problem, str(tmp_path / "a"), "train")) == 5 * 3 * 7
    assert len(records(problem, str(tmp_path / "a"), "dev")) == 3 * 7
    assert problem.held_out(SPEAKERS) == "fay"
    named = SpeechFsdd(split="speaker", held_out_speaker="bob")
    assert named.held_out(SPEAKERS) == "bob" and named.dataset_filename() == "speech_fsdd_heldout_bob"
    with pytest.raises(ProblemConfigError, match="held_out_speaker='zed' is not a speaker.*ann, bob"):
        SpeechFsdd(split="speaker", held_out_speaker="zed").held_out(SPEAKERS)
    with pytest.raises(ProblemConfigError, match="SpeechFsdd.split='random'"):
        SpeechFsdd(split="random")


def test_fsdd_missing_recordings_name_the_folder(tmp_path):
    with pytest.raises(DataMissingError, match="no FSDD recordings .* put FSDD's recordings/ folder there"):
        registry.problem("speech_fsdd").generate_data(str(tmp_path / "data"), str(tmp_path / "empty"))


def _tsv(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return str(path)


def test_speech_from_files_resolves_paths_against_the_tsv_and_resamples_any_rate(tmp_path):
    write_wav(tmp_path / "audio" / "a.wav", tone_steps(0, 8000), 8000)
    write_wav(tmp_path / "audio" / "b.wav", tone_steps(1, 16000, seconds=0.5), 16000)  # another rate
    stereo = np.stack([tone_steps(2, 22050), tone_steps(2, 22050)], axis=1)
    write_wav(tmp_path / "audio" / "c.wav", stereo, 22050)
    train = _tsv(tmp_path / "train.tsv", ["audio/a.wav\tHello  there.", "audio/b.wav\tgood bye", "",
                                          f"{tmp_path / 'audio' / 'c.wav'}\tthree"])
    wide = _tsv(tmp_path / "wide.tsv", ["id\tpath\ttext", "x\taudio/a.wav\tHello"])  # like Asterisk's list
    columns = SpeechFromFiles(train_tsv=wide, columns=(1, 2), header=True)
    assert [(g["transcript"], g["where"]) for g in columns.generate_samples("", "", "train")] == [("Hello", f"{wide}:2")]
    problem = SpeechFromFiles(train_tsv=train, dev_tsv=train, sample_rate=8000, lowercase=True, strip_punctuation=True)
    assert [g["where"] for g in problem.generate_samples("", "", "train")] == [f"{train}:1", f"{train}:2", f"{train}:4"]
    problem.generate_data(str(tmp_path / "data"), str(tmp_path / "tmp"))
    rows = records(problem, str(tmp_path / "data"), "train")
    assert sorted(r[2] for r in rows) == ["good bye", "hello there", "three"]
    lengths = {r[2]: r[0] for r in rows}
    assert {r[1] for r in rows} == {8000}
    assert abs(lengths["good bye"] - len(tone_steps(1, 16000, seconds=0.5)) // 2) <= 1  # 16 kHz -> 8 kHz


@pytest.mark.parametrize("case", ["missing", "not_audio", "empty", "vocabulary"])
def test_bad_inputs_are_one_line_naming_the_file(tmp_path, case):
    write_wav(tmp_path / "ok.wav", tone_steps(0, 8000), 8000)
    line = {"missing": "gone.wav\thello", "not_audio": "notes.wav\thello", "empty": "empty.wav\thello",
            "vocabulary": "ok.wav\tcaf\u00e9 ol\u00e9"}[case]
    (tmp_path / "notes.wav").write_text("just text\n")
    write_wav(tmp_path / "empty.wav", np.zeros(0, np.float32), 8000)
    train = _tsv(tmp_path / "train.tsv", ["ok.wav\thello", line])
    problem = SpeechFromFiles(train_tsv=train, dev_tsv=train, sample_rate=8000)
    with pytest.raises(DataError) as e:
        problem.generate_data(str(tmp_path / "data"), str(tmp_path / "tmp"))
    message = str(e.value)
    assert "\n" not in message and message.startswith(f"{train}:2: ")
    assert {"missing": "does not exist; fix the path", "not_audio": "is not an audio file",
            "empty": "is an empty recording", "vocabulary": "character '\u00e9' (U+00E9) is outside the vocabulary"
            }[case] in message
    assert not [p for p in os.listdir(tmp_path / "data") if not p.startswith(".")] if (tmp_path / "data").exists() else True


def test_speech_from_files_unset_tsv_names_the_gin_binding():
    with pytest.raises(ProblemConfigError, match=r"SpeechFromFiles.train_tsv is not set.*--gin_param"):
        list(SpeechFromFiles().generate_samples("", "", "train"))


@pytest.fixture
def tarballs(tmp_path, monkeypatch):
    """train-clean-100, dev-clean and test-clean tarballs in tmp_dir, in OpenSLR's layout;
    the problem's checksums patched to theirs (the real ones are for the real tarballs)."""
    tmp_dir = tmp_path / "tmp"
    tmp_dir.mkdir()
    sums = dict(librispeech_module.SHA256)
    for subset in ("train-clean-100", "dev-clean", "test-clean"):
        path = librispeech_tarball(tmp_dir / f"{subset}.tar.gz", subset)
        sums[subset] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    monkeypatch.setattr(librispeech_module, "SHA256", sums)
    monkeypatch.setenv("T2X_OFFLINE", "1")  # never the network: the files are there
    return str(tmp_dir)


def test_librispeech_clean_small_reads_the_real_tarball_layout(tarballs, tmp_path):
    problem = registry.problem("librispeech_clean_small")
    assert problem.sample_rate == 16000
    problem.generate_data(str(tmp_path / "data"), tarballs)
    rows = records(problem, str(tmp_path / "data"), "train")
    assert len(rows) == 5 and {r[1] for r in rows} == {16000}
    assert {r[2] for r in rows} <= {"ZERO IT'S DIGIT", "ONE IT'S DIGIT", "TWO IT'S DIGIT"}
    assert len(records(problem, str(tmp_path / "data"), "test")) == 5
    assert os.path.isdir(os.path.join(tarballs, "librispeech-dev-clean", "LibriSpeech", "dev-clean", "19", "198"))


def test_librispeech_reads_an_extracted_folder_without_tarballs(tmp_path, monkeypatch):
    monkeypatch.setenv("T2X_OFFLINE", "1")
    for subset in ("train-clean-100", "dev-clean", "test-clean"):
        librispeech_tree(tmp_path / "tmp", subset, utterances=((7, 8, 2),))
    problem = registry.problem("librispeech_clean_small")
    problem.generate_data(str(tmp_path / "data"), str(tmp_path / "tmp"))
    assert len(records(problem, str(tmp_path / "data"), "dev")) == 2


def test_librispeech_offline_names_the_tarballs_and_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("T2X_OFFLINE", "1")
    with pytest.raises(DownloadError) as e:
        registry.problem("librispeech_clean").generate_data(str(tmp_path / "data"), str(tmp_path / "tmp"))
    message = str(e.value)
    assert "train-clean-360.tar.gz" in message and "dev-clean.tar.gz" in message and str(tmp_path / "tmp") in message


def test_librispeech_missing_recording_is_file_and_line(tmp_path, monkeypatch):
    monkeypatch.setenv("T2X_OFFLINE", "1")
    for subset in ("train-clean-100", "dev-clean", "test-clean"):
        librispeech_tree(tmp_path / "tmp", subset, utterances=((7, 8, 2),))
    os.remove(tmp_path / "tmp" / "LibriSpeech" / "dev-clean" / "7" / "8" / "7-8-0001.flac")
    with pytest.raises(DataError, match=r"dev-clean/7/8/7-8\.trans\.txt:2: the recording .*7-8-0001\.flac .* missing"):
        registry.problem("librispeech_clean_small").generate_data(str(tmp_path / "data"), str(tmp_path / "tmp"))


def test_pipeline_features_are_log_mel_frames(fsdd, tmp_path):
    from t2x.hparam import create_hparams

    problem = registry.problem("speech_fsdd")
    problem.generate_data(str(tmp_path), fsdd)
    hp = create_hparams("transformer_librispeech_tiny")
    spec = problem.element_spec(Mode.TRAIN, hp)
    assert spec["inputs"].shape.as_list() == [None, 80, 3] and spec["targets"].shape.as_list() == [None]
    batch = next(iter(problem.dataset(Mode.TRAIN, str(tmp_path), hp, batch_size=400, seed=1, deterministic=True)))
    assert set(batch) == {"inputs", "targets"}
    assert batch["inputs"].shape[2:] == (80, 3)
    real = np.abs(batch["inputs"].numpy()).sum(axis=(2, 3)) > 0
    assert (real[:, :1]).all() and not real.all()  # zero frames pad the shorter recordings
