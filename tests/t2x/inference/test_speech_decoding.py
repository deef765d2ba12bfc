"""A tiny speech run end to end on tone recordings made here: WER through the evaluator,
--decode_from_file on paths (a 16 kHz file through an 8 kHz model), the export in a
TensorFlow-only process, TensorBoard audio and spectrograms, exact resume with SpecAugment."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator, TENSORS

from speech_test_utils import fsdd_folder, write_wav
from t2x import registry
from t2x.data import audio
from t2x.hparam import create_hparams
from t2x.inference import decoder as decoder_lib
from t2x.training.trainer import Trainer

HPARAMS = ("hidden_size=64,filter_size=128,num_encoder_layers=1,num_decoder_layers=1,audio_conv_filters=8,"
           "learning_rate_warmup_steps=50,learning_rate_constant=0.5,batch_size=1500,audio_num_mel_bins=20,"
           "audio_add_delta_deltas=false,layer_prepostprocess_dropout=0.0,relu_dropout=0.0")


def trainer(data_dir, out, steps, hparams=HPARAMS, **kw):
    hp = create_hparams("transformer_librispeech_tiny", hparams)
    args = dict(problem=registry.problem("speech_fsdd"), model_name="transformer", hparams=hp,
                hparams_set="transformer_librispeech_tiny", data_dir=data_dir, output_dir=str(out),
                train_steps=steps, eval_steps=4, eval_every=10 ** 6, save_checkpoints_steps=steps, log_every=50)
    args.update(kw)
    return Trainer(**args)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("speech")
    tmp_dir = fsdd_folder(root / "tmp", digits=3, indices=range(8))
    data_dir = str(root / "data")
    registry.problem("speech_fsdd").generate_data(data_dir, tmp_dir)
    metrics = trainer(data_dir, root / "run", 200).run("train_and_evaluate")
    return root, tmp_dir, data_dir, metrics


def test_wer_and_edit_distance_come_from_real_decodes(run):
    root, _, _, metrics = run
    assert metrics["wer"] <= 0.1 and metrics["edit_distance"] <= 0.1, metrics
    decodes = open(root / "run" / "decodes" / "dev-200.txt").read().split("\n")
    assert set(filter(None, decodes)) <= {"zero", "one", "two"} and len(list(filter(None, decodes))) == 90


def test_decode_from_file_takes_audio_paths_and_resamples_another_rate(run, tmp_path):
    root, tmp_dir, data_dir, _ = run
    rec = os.path.join(tmp_dir, "recordings")
    x8 = audio.read_audio(os.path.join(rec, "2_ann_0.wav"), 8000)
    write_wav(tmp_path / "two16k.wav", audio.resample(x8 / 32768.0, 8000, 16000), 16000)  # 16 kHz file
    listing = tmp_path / "list.txt"
    listing.write_text(f"{rec}/0_bob_1.wav\n{rec}/1_cat_2.wav\n\n{rec}/2_ann_0.wav\ntwo16k.wav\n")
    summary = decoder_lib.decode(str(root / "run"), decode_from_file=str(listing),
                                 decode_to_file=str(tmp_path / "out.txt"))
    assert "decoded 4 sentences" in summary
    assert (tmp_path / "out.txt").read_text().split("\n")[:5] == ["zero", "one", "", "two", "two"]
    line = decoder_lib.decode(str(root / "run"), decode_split="test")
    assert line.startswith("test: 90 recordings, WER ")


def test_decoder_binary_refuses_a_list_line_that_is_not_audio_in_one_line(run, tmp_path):
    root = run[0]
    (tmp_path / "notes.wav").write_text("text\n")
    listing = tmp_path / "list.txt"
    listing.write_text("notes.wav\n")
    proc = subprocess.run([sys.executable, "-m", "t2x.scripts.t2x_decoder", f"--output_dir={root / 'run'}",
                           f"--decode_from_file={listing}"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert f"{listing}:1: " in last and "not an audio file" in last and "Traceback" not in proc.stderr


def test_tensorboard_has_audio_and_spectrograms_of_training_examples(run):
    events = EventAccumulator(str(run[0] / "run" / "train"), size_guidance={TENSORS: 0}).Reload()
    tags = events.Tags()["tensors"]
    assert "inputs/audio" in tags and "inputs/spectrogram" in tags
    assert [d.size for d in events.Tensors("inputs/audio")[0].tensor_proto.tensor_shape.dim] == [4, 2]


def test_export_transcribes_like_the_checkpoint_in_a_tensorflow_only_process(run, tmp_path):
    root, tmp_dir, data_dir, _ = run
    rec = os.path.join(tmp_dir, "recordings")
    names = sorted(n for n in os.listdir(rec) if int(n.split("_")[2][:-4]) < 5)[:30]
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{rec}/{n}\n" for n in names))
    decoder_lib.decode(str(root / "run"), decode_from_file=str(listing), decode_to_file=str(tmp_path / "ckpt.txt"),
                       decode_hparams="batch_size=1")
    expected = (tmp_path / "ckpt.txt").read_text().split("\n")[:len(names)]
    proc = subprocess.run([sys.executable, "-m", "t2x.scripts.t2x_exporter", f"--output_dir={root / 'run'}",
                           f"--export_dir={tmp_path / 'export'}"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    saved = next(os.path.join(d, "saved_model") for d, _, f in os.walk(tmp_path / "export") if "export.json" in f)
    code = f"""
        import json, sys
        import tensorflow as tf
        m = tf.saved_model.load({saved!r})
        out, wav = [], []
        for name in {names!r}:
            data = open({rec!r} + "/" + name, "rb").read()
            x, rate = tf.audio.decode_wav(data, desired_channels=1)
            r = m.signatures["serving_default"](waveforms=x[None, :, 0], lengths=tf.constant([x.shape[0]]),
                                                sample_rate=tf.constant(int(rate)))
            out.append(r["outputs"].numpy()[0].decode())
            wav.append(m.signatures["transcribe_wav"](wav=tf.constant([data]))["outputs"].numpy()[0].decode())
        try:
            m.signatures["serving_default"](waveforms=x[None, :, 0], lengths=tf.constant([x.shape[0]]),
                                            sample_rate=tf.constant(16000))
            refused = ""
        except tf.errors.InvalidArgumentError as e:
            refused = str(e)
        print(json.dumps({{"out": out, "wav": wav, "refused": "sample_rate must be 8000 Hz" in refused,
                          "t2x": any(k.startswith("t2x") for k in sys.modules)}}))
    """
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not got["t2x"] and got["refused"]
    assert got["out"] == expected and got["wav"] == expected


def test_a_resumed_speech_run_with_specaugment_equals_an_uninterrupted_one(run, tmp_path):
    data_dir = run[2]
    hparams = HPARAMS.replace("layer_prepostprocess_dropout=0.0", "layer_prepostprocess_dropout=0.1") + \
        ",specaugment=true,specaugment_time_width=5,specaugment_freq_width=4"
    straight = trainer(data_dir, tmp_path / "straight", 6, hparams, save_checkpoints_steps=3)
    straight.train()
    first = trainer(data_dir, tmp_path / "resumed", 4, hparams, save_checkpoints_steps=2)
    first.train()
    second = trainer(data_dir, tmp_path / "resumed", 6, hparams, save_checkpoints_steps=3)
    second.train()
    assert int(second.step.numpy()) == 6
    for a, b in zip(straight.model.weights, second.model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
