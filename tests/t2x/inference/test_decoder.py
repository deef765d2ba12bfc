"""The decoder's input and output checks and its input cap, in-process on an untrained
tiny_algo Transformer (the weights do not matter: what is checked is which lines are cut,
refused, left blank, and what is written)."""

import os

import pytest

from t2x import registry
from t2x.errors import ConfigError, DataError, T2XError
from t2x.inference import decoder as decoder_lib
from t2x.inference.decoder import (SequenceDecoder, check_writable, decode, parse_decode_hparams,
                                  read_decode_inputs)


@pytest.fixture(scope="module")
def tiny_decoder(tmp_path_factory):
    import keras

    from t2x.model import create_model

    keras.utils.set_random_seed(0)
    problem = registry.problem("tiny_algo")
    hp = registry.hparams("transformer_test")()
    data_dir = str(tmp_path_factory.mktemp("algo_data"))  # tiny_algo's vocabulary needs no file
    model = create_model(problem, "transformer", hp, data_dir)
    return SequenceDecoder(model, problem, data_dir, parse_decode_hparams("max_input_length=8,extra_length=2"))


@pytest.mark.parametrize("text, message", [
    ("beam_size=0", "beam_size=0 must be >= 1"),
    ("alpha=-1", "alpha=-1.0 must be >= 0"),
    ("alpha=nan", "alpha=nan must be >= 0"),
    ("extra_length=-1", "extra_length=-1 must be >= 0"),
    ("batch_size=0", "batch_size=0 must be >= 1"),
    ("sampling_method=nucleus", "sampling_method='nucleus' is not one of argmax, random"),
    ("sampling_method=random,sampling_temp=-0.5", "sampling_temp=-0.5 must be >= 0"),
    ("top_k=-1", "top_k=-1 must be >= 0"),
    ("top_k=3", "top_k=3 applies only to sampling"),
    ("beam_size=2,sampling_method=random", "beam search does not sample"),
    ("log_every=0", "log_every=0 must be >= 1"),
    ("max_input_length=-4", "max_input_length=-4 must be >= 0"),
    ("max_input_length=1", "leaves no room for a token before EOS"),
])
def test_every_decode_hparam_is_range_checked_when_parsed(text, message):
    with pytest.raises(ConfigError, match="^--decode_hparams: ") as info:
        parse_decode_hparams(text)
    assert message in str(info.value)


def test_valid_decode_hparams_pass():
    hp = parse_decode_hparams("beam_size=4,alpha=0,return_beams=true,extra_length=0,max_input_length=2")
    assert (hp.beam_size, hp.alpha, hp.extra_length, hp.max_input_length) == (4, 0.0, 0, 2)
    hp = parse_decode_hparams("sampling_method=random,sampling_temp=0,top_k=5")
    assert (hp.sampling_method, hp.top_k) == ("random", 5)


def test_decode_inputs_file_problems_are_one_line_errors(tmp_path, monkeypatch):
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("ok\nstill ok\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(T2XError, match=rf"^{latin1}:3: not UTF-8 .*byte 0xe9 at byte 3 of the line.*iconv"):
        read_decode_inputs(str(latin1))
    with pytest.raises(T2XError, match="is a directory, not a text file"):
        read_decode_inputs(str(tmp_path))
    with pytest.raises(T2XError, match="cannot be read: no such file"):
        read_decode_inputs(str(tmp_path / "none.txt"))
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(T2XError, match=r"empty.txt is empty: nothing to decode"):
        read_decode_inputs(str(tmp_path / "empty.txt"))
    (tmp_path / "blank.txt").write_text("\n \n")
    with pytest.raises(T2XError, match=r"blank.txt is empty \(2 blank line\(s\)\)"):
        read_decode_inputs(str(tmp_path / "blank.txt"))
    (tmp_path / "ok.txt").write_text("0 1\n\n1 1\n")
    assert read_decode_inputs(str(tmp_path / "ok.txt")) == [(1, "0 1"), (2, ""), (3, "1 1")]

    secret = tmp_path / "secret.txt"
    secret.write_text("0 1\n")
    secret.chmod(0)
    if os.geteuid() != 0:  # root reads any file: then only the simulation below applies
        with pytest.raises(T2XError, match="cannot be read \\(permission denied\\): make it readable"):
            read_decode_inputs(str(secret))
    from t2x.data import text_lines

    def denied(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(text_lines, "open", denied, raising=False)
    with pytest.raises(T2XError, match=rf"--decode_from_file={secret} cannot be read \(permission denied\)"):
        read_decode_inputs(str(secret))


def test_decode_to_file_is_checked_without_writing(tmp_path, monkeypatch):
    with pytest.raises(T2XError, match="is a directory: name a file"):
        check_writable(str(tmp_path), "--decode_to_file")
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(T2XError, match=rf"{tmp_path}/a_file is a file, not a directory"):
        check_writable(str(tmp_path / "a_file" / "deeper" / "out.txt"), "--decode_to_file")
    check_writable(str(tmp_path / "new" / "dirs" / "out.txt"), "--decode_to_file")
    assert not (tmp_path / "new").exists()  # made only when the decodes are written
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.geteuid() != 0:
        with pytest.raises(T2XError, match="is read-only for this user"):
            check_writable(str(locked / "out.txt"), "--decode_to_file")
    real_access = os.access
    monkeypatch.setattr(decoder_lib.os, "access",
                        lambda p, mode: False if str(p) == str(locked) else real_access(p, mode))
    with pytest.raises(T2XError, match=rf"--decode_to_file={locked}/out.txt cannot be written: {locked} is "
                                        "read-only for this user"):
        check_writable(str(locked / "out.txt"), "--decode_to_file")
    # decode() refuses it before the model loads (nothing is decoded, then lost)
    source = tmp_path / "in.txt"
    source.write_text("0 1\n")

    def must_not_load(*args, **kwargs):
        raise AssertionError("the model was loaded before the output was checked")

    monkeypatch.setattr(SequenceDecoder, "from_output_dir", classmethod(must_not_load))
    with pytest.raises(T2XError, match="read-only for this user"):
        decode(str(tmp_path), decode_from_file=str(source), decode_to_file=str(locked / "out.txt"))


def test_words_for_an_integer_vocabulary_name_file_line_and_token(tiny_decoder):
    assert tiny_decoder.encode_input("0 1 1") == [2, 3, 3, 1]
    with pytest.raises(DataError, match=r"^in.txt:4: 'hello' is not a symbol of tiny_algo: its inputs are "
                                        r"space-separated integers 0\.\.1 \(vocab_size 4 less PAD and EOS\)"):
        tiny_decoder.decode_lines(["0 1", "hello world"], source="in.txt", line_numbers=[1, 4])
    for bad in ("2", "-1", "1.5", "²"):
        with pytest.raises(DataError, match=f"'{bad}' is not a symbol"):
            tiny_decoder.encode_input(f"0 {bad}", "in.txt:1")


def test_a_long_line_is_cut_with_one_warning_and_no_decode_is_lost(tiny_decoder, tmp_path, monkeypatch):
    long_line = " ".join("01"[i % 2] for i in range(10200))  # 20,399 characters, 10,200 tokens
    lines = ["0 1 1", "", long_line, "1 0", "  ", "1 1 1 1 1 1 1 1 1 1"]
    source = tmp_path / "in.txt"
    source.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(SequenceDecoder, "from_output_dir",
                        classmethod(lambda cls, *a, **k: setattr(tiny_decoder, "checkpoint_path", "ckpt-0")
                                    or tiny_decoder))
    said = []
    summary = decode(str(tmp_path), decode_from_file=str(source), decode_to_file=str(tmp_path / "out.txt"),
                     announce=said.append)
    assert said == [f"warning: 2 input line(s) of {source} longer than 8 tokens cut to 8 (line(s) 3, 6); "
                    "--decode_hparams=max_input_length=N sets the limit"]
    assert "decoded 4 sentences" in summary and "(2 blank line(s) left blank)" in summary
    outputs = (tmp_path / "out.txt").read_text().split("\n")
    assert len(outputs) == len(lines) + 1 and outputs[-1] == ""  # one line per input line
    assert outputs[1] == "" and outputs[4] == ""
    # the cut line decodes as its first 7 tokens would, and the other lines are unchanged
    expected = tiny_decoder.decode_lines(["0 1 1", " ".join(long_line.split()[:7]), "1 0", "1 1 1 1 1 1 1"])
    assert [outputs[i] for i in (0, 2, 3, 5)] == expected
    assert all(len(o.split()) <= 8 + 2 for o in outputs)  # decode length bounded: the cap + extra_length
    assert sorted(os.listdir(tmp_path)) == ["in.txt", "out.txt"]  # no temporary left


def test_the_cap_defaults_to_the_models_max_length(tiny_decoder):
    decoder = SequenceDecoder(tiny_decoder.model, tiny_decoder.problem, tiny_decoder.data_dir,
                              parse_decode_hparams(""))
    assert decoder.max_input_length == tiny_decoder.model.hparams.max_length == 256
