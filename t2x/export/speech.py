"""The ``speech_recognition`` serving kind: audio in, transcripts out, features in the graph.

Signatures (each returns ``outputs`` ``[B]`` UTF-8 transcripts and ``scores`` ``[B]``):

* ``serving_default(waveforms, lengths, sample_rate)``: ``waveforms`` ``[B, N]`` float32 in
  [-1, 1] (mono, zero-padded to the longest), ``lengths`` ``[B]`` int32 (each one's samples),
  ``sample_rate`` int32 scalar;
* ``transcribe_wav(wav)``: ``[B]`` strings, each the bytes of a 16-bit PCM WAV file
  (``tf.audio.decode_wav``; the first channel of a multi-channel file is used).

The log-mel features (``t2x.data.audio.waveform_features``, with the run's audio hparams) are
computed per utterance inside the graph by the ops the training pipeline ran, so the export
needs TensorFlow only. **Rates**: a ``sample_rate`` other than the problem's (recorded in
``export.json`` as ``sample_rate``) is refused with an ``InvalidArgumentError`` that names the
expected rate: resample before calling (``soxr``, or ``t2x-decoder --decode_from_file``,
which resamples any file). In-graph resampling was left out on purpose: a linear
interpolation in TF ops would not be the resampler the shards were written with (soxr's
band-limited one), so the model would hear different audio in serving than in training.
"""

import tensorflow as tf

from t2x.data import graph_text
from t2x.data.problem import Mode
from t2x.inference.decoder import infer_kwargs
from t2x.model import tf_variables


def speech_module(model, problem, hparams, data_dir: str, decode_hparams, asset_dir: str):
    """The tf.Module of a speech recognition export; returns (module, signature names)."""
    module = tf.Module()
    module.model_variables = tf_variables(model.variables)
    module.targets_encoder = graph_text.graph_encoder(problem.get_feature_encoders(data_dir)["targets"], asset_dir)
    rate = int(problem.sample_rate)
    bins, channels = problem.element_spec(Mode.EVAL, hparams)["inputs"].shape.as_list()[1:]
    kwargs = infer_kwargs(decode_hparams)
    ragged = tf.RaggedTensorSpec([None, bins, channels], tf.float32, ragged_rank=0)

    def features(waveforms, lengths):
        """``[B, N]`` float waveforms and their lengths -> ``[B, T, bins, C]`` (zero-padded)."""
        def one(args):
            waveform, length = args
            return problem.features_from_waveform(waveform[:length], hparams)

        out = tf.map_fn(one, (waveforms, lengths), fn_output_signature=ragged)
        return out.to_tensor() if isinstance(out, tf.RaggedTensor) else out

    def transcribe_features(inputs):
        out = model.infer({"inputs": inputs}, **kwargs)
        return {"outputs": module.targets_encoder.decode(tf.cast(out["outputs"], tf.int64)),
                "scores": out["scores"]}

    def check_rate(sample_rate):
        return tf.debugging.assert_equal(
            tf.cast(sample_rate, tf.int32), rate,
            message=f"sample_rate must be {rate} Hz, the rate this model was trained at: resample the audio "
                    "to it before calling")

    def transcribe(waveforms, lengths, sample_rate):
        with tf.control_dependencies([check_rate(sample_rate)]):
            inputs = features(waveforms, tf.cast(lengths, tf.int32))
        return transcribe_features(inputs)

    def transcribe_wav(wav):
        def one(data):
            decoded, sample_rate = tf.audio.decode_wav(data, desired_channels=1)
            with tf.control_dependencies([check_rate(sample_rate)]):
                return problem.features_from_waveform(decoded[:, 0], hparams)

        out = tf.map_fn(one, wav, fn_output_signature=ragged)
        return transcribe_features(out.to_tensor() if isinstance(out, tf.RaggedTensor) else out)

    module.serving_default = tf.function(transcribe, input_signature=[
        tf.TensorSpec([None, None], tf.float32, name="waveforms"),
        tf.TensorSpec([None], tf.int32, name="lengths"),
        tf.TensorSpec([], tf.int32, name="sample_rate")])
    module.transcribe_wav = tf.function(transcribe_wav, input_signature=[tf.TensorSpec([None], tf.string, name="wav")])
    return module, ["serving_default", "transcribe_wav"]


def build(ctx):
    """``SERVING_KINDS``'s builder for ``speech_recognition`` (see ``t2x.export.kinds``)."""
    import os

    module, names = speech_module(ctx.model, ctx.problem, ctx.hparams, ctx.data_dir, ctx.decode_hparams,
                                  os.path.join(ctx.staging, "vocab"))
    info = {"sample_rate": int(ctx.problem.sample_rate), "decode_hparams": ctx.decode_hparams.values(),
            "features": "log-mel filterbanks inside the graph (t2x.data.audio.waveform_features)",
            "resampling": "refused: pass audio at sample_rate"}
    return module, names, info, []
