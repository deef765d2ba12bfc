"""Decoding a trained sequence model: the library behind ``t2x-decoder`` and the trainer's
decode-based BLEU (one code path, so the two agree on one checkpoint).

    decoder = SequenceDecoder.from_output_dir("~/t2x_train/translate_ende_multi30k/...",
                                              decode_hparams="beam_size=4,alpha=0.6")
    outputs = decoder.decode_lines(["A dog runs ."])          # -> ["Ein Hund rennt ."]
    hypotheses, references = decoder.decode_split("test")      # the split's TFRecords
    bleu = corpus_bleu(hypotheses, references)

Batches are formed after sorting the inputs by (length, ids), which depends only on the set
of inputs, not on their order: a file and the TFRecord split of the same sentences are cut
into the same batches, hence decoded identically (padding is masked, but a different batch
would round differently). Outputs come back in the input order.
"""

import sys
import time
from typing import Callable, List, Optional, Sequence, TextIO, Tuple

import tensorflow as tf
from absl import logging

from t2x import decoding
from t2x.data.problem import Mode
from t2x.errors import ConfigError
from t2x.fileio import write_lines_atomic
from t2x.hparam import HParams
from t2x.model import checkpoint_weights, create_model
from t2x.training.run_dir import RunDir


class DecodeError(ConfigError):
    """Decoding cannot start (a problem without inputs, an unreadable input file)."""


def decode_hparams_defaults() -> HParams:
    """T2T's ``decode_hparams`` names: ``beam_size`` (1: greedy), ``alpha`` (length penalty),
    ``return_beams`` (all beams, tab-separated), ``extra_length`` (decode up to input length
    + this), ``batch_size`` (sentences per batch), ``sampling_method`` ("argmax" or
    "random"), ``sampling_temp``, ``top_k`` (sampling), ``use_cache`` (the model's cached fast
    path), ``log_every`` (batches between progress lines)."""
    return HParams(beam_size=1, alpha=0.6, return_beams=False, extra_length=50, batch_size=32,
                   sampling_method="argmax", sampling_temp=1.0, top_k=0, use_cache=True, log_every=10)


def parse_decode_hparams(text: str = "") -> HParams:
    hp = decode_hparams_defaults()
    if text:
        hp.parse(text)
    return hp


def infer_kwargs(hp: HParams) -> dict:
    """The ``T2XModel.infer`` arguments of decode hparams (the decoder's and the exporter's)."""
    return dict(extra_length=hp.extra_length, beam_size=hp.beam_size,
                top_beams=hp.beam_size if hp.return_beams else 1, alpha=hp.alpha,
                sampling_method=hp.sampling_method, temperature=hp.sampling_temp,
                top_k=hp.top_k, use_cache=hp.use_cache)


def batches_by_length(sequences: Sequence[Sequence[int]], batch_size: int) -> List[List[int]]:
    """Indices of ``sequences`` cut into batches of ``batch_size`` after sorting by
    ``(length, ids)``: the same set of sequences gives the same batches in any order."""
    order = sorted(range(len(sequences)), key=lambda i: (len(sequences[i]), tuple(sequences[i])))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


class SequenceDecoder:
    """Decodes inputs with ``model.infer`` under ``decode_hparams``."""

    def __init__(self, model, problem, data_dir: str, decode_hparams: Optional[HParams] = None):
        self.model = model
        self.problem = problem
        self.data_dir = data_dir
        self.decode_hparams = decode_hparams or decode_hparams_defaults()
        kinds = {k: model.problem_hparams.modality.get(k) for k in ("inputs", "targets")}
        if kinds != {"inputs": "symbol", "targets": "symbol"}:
            raise DecodeError(f"{problem.name} has {kinds['inputs'] or 'no'} inputs and {kinds['targets']} "
                              "targets: the decoder translates symbol inputs to symbol targets "
                              "(language-model sampling is model.infer({'batch_size': N}))")
        self.encoders = problem.get_feature_encoders(data_dir)
        kwargs = infer_kwargs(self.decode_hparams)
        self._infer = tf.function(lambda inputs: model.infer({"inputs": inputs}, **kwargs),
                                  input_signature=[tf.TensorSpec([None, None], tf.int64)])

    @classmethod
    def from_output_dir(cls, output_dir: str, *, data_dir: Optional[str] = None,
                        checkpoint_path: Optional[str] = None, decode_hparams: str = "",
                        t2x_usr_dir: Optional[str] = None):
        model, problem, data_dir, path = load_trained_model(output_dir, data_dir=data_dir,
                                                             checkpoint_path=checkpoint_path,
                                                             t2x_usr_dir=t2x_usr_dir)
        decoder = cls(model, problem, data_dir, parse_decode_hparams(decode_hparams))
        decoder.checkpoint_path = path
        return decoder

    # -- ids ------------------------------------------------------------------------
    def decode_ids(self, inputs: Sequence[Sequence[int]]) -> List[List[List[int]]]:
        """Input id lists (EOS included) -> for each, its beams' output ids (one beam unless
        ``return_beams``), each cut before EOS. Progress: sentences/s every ``log_every``
        batches."""
        results: List[Optional[List[List[int]]]] = [None] * len(inputs)
        batches = batches_by_length(inputs, int(self.decode_hparams.batch_size))
        start, done = time.monotonic(), 0
        for b, indices in enumerate(batches):
            width = max(1, max(len(inputs[i]) for i in indices))
            padded = [list(inputs[i]) + [0] * (width - len(inputs[i])) for i in indices]
            outputs = self._infer(tf.constant(padded, tf.int64))["outputs"].numpy()
            for row, i in enumerate(indices):
                beams = outputs[row] if outputs.ndim == 3 else outputs[row][None]
                results[i] = [decoding.strip_ids(beam) for beam in beams]
            done += len(indices)
            if (b + 1) % int(self.decode_hparams.log_every) == 0 or b + 1 == len(batches):
                elapsed = time.monotonic() - start
                logging.info("decoded %d/%d sentences, %.1f sentences/s", done, len(inputs),
                             done / max(elapsed, 1e-9))
        self.last_sentences_per_second = len(inputs) / max(time.monotonic() - start, 1e-9)
        return results

    # -- text -----------------------------------------------------------------------
    def encode_input(self, line: str) -> List[int]:
        from t2x.data.text_encoder import EOS_ID

        return self.encoders["inputs"].encode(line.strip()) + [EOS_ID]

    def decode_lines(self, lines: Sequence[str]) -> List[str]:
        """Source lines -> output lines (beams joined by tabs with ``return_beams``)."""
        outputs = self.decode_ids([self.encode_input(line) for line in lines])
        target = self.encoders["targets"]
        return ["\t".join(target.decode(beam) for beam in beams) for beams in outputs]

    def split_texts(self, split: str = "dev", max_examples: int = 0) -> Tuple[List[str], List[str]]:
        """A split's (source texts, references), decoded from its TFRecords' ids."""
        ds = self.problem.dataset(Mode.EVAL, self.data_dir, dataset_split=split, deterministic=True)
        if max_examples:
            ds = ds.take(max_examples)
        source, target = self.encoders["inputs"], self.encoders["targets"]
        pairs = [(source.decode(decoding.strip_ids(e["inputs"])), target.decode(decoding.strip_ids(e["targets"])))
                 for e in ds.as_numpy_iterator()]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def decode_split(self, split: str = "dev", max_examples: int = 0) -> Tuple[List[str], List[str]]:
        """Decodes a split's TFRecords: (hypotheses, references), in the split's order."""
        ds = self.problem.dataset(Mode.EVAL, self.data_dir, dataset_split=split, deterministic=True)
        if max_examples:
            ds = ds.take(max_examples)
        inputs, references = [], []
        target = self.encoders["targets"]
        for example in ds.as_numpy_iterator():
            inputs.append(example["inputs"].tolist())
            references.append(target.decode(decoding.strip_ids(example["targets"])))
        outputs = self.decode_ids(inputs)
        return [target.decode(beams[0]) for beams in outputs], references


def load_trained_model(output_dir: str, *, data_dir: Optional[str] = None,
                       checkpoint_path: Optional[str] = None, t2x_usr_dir: Optional[str] = None):
    """The model of a training run, read back through its ``RunDir`` (names, hparams, gin
    config, usr dir) with the weights of its latest checkpoint or ``checkpoint_path``.
    Returns (model, problem, data_dir, checkpoint path)."""
    run_dir = RunDir(output_dir)
    run = run_dir.load(data_dir=data_dir, t2x_usr_dir=t2x_usr_dir)
    path = run_dir.checkpoint(checkpoint_path)
    model = create_model(run.problem, run.model_name, run.hparams, run.data_dir)
    restore_weights(model, path)
    logging.info("Restored %s", path)
    return model, run.problem, run.data_dir, path


def restore_weights(model, path: str) -> None:
    """Loads the model weights of checkpoint ``path`` into ``model`` (built)."""
    tf.train.Checkpoint(model_weights=checkpoint_weights(model)).restore(path) \
        .expect_partial().assert_existing_objects_matched()


def decode(output_dir: str, *, data_dir: Optional[str] = None, checkpoint_path: Optional[str] = None,
           decode_hparams: str = "", decode_from_file: Optional[str] = None,
           decode_to_file: Optional[str] = None, decode_split: str = "dev",
           decode_interactive: bool = False, bleu_tokenize: str = "13a",
           t2x_usr_dir: Optional[str] = None, stdin: TextIO = sys.stdin,
           emit: Callable[[str], None] = print, saved_model: Optional[str] = None) -> str:
    """The library behind ``t2x-decoder``; returns its summary line.

    ``decode_interactive``: each line of ``stdin`` decoded and ``emit``-ted. Else
    ``decode_from_file``: its lines decoded into ``decode_to_file`` (default
    ``<file>.<model>.beam<N>.alpha<A>.decodes``), in file order, atomically. Else
    ``decode_split`` decoded and scored with sacreBLEU (``bleu_tokenize``), the decodes
    written to ``decode_to_file`` when given. Bad ``decode_hparams`` or an unreadable file
    fail before the model loads. With ``saved_model`` (an export's ``saved_model/``) the
    export decodes instead of the checkpoint (its decode hparams are fixed in it; only
    ``batch_size`` applies); ``output_dir`` is then needed only for ``decode_split``."""
    from t2x import bleu

    hp = parse_decode_hparams(decode_hparams)  # a typo fails before the model loads
    if decode_from_file and not _readable(decode_from_file):
        raise DecodeError(f"--decode_from_file={decode_from_file} cannot be read")
    if saved_model:
        exported = SavedModelDecoder(saved_model, int(hp.batch_size))
    if saved_model and not output_dir:
        if not (decode_from_file or decode_interactive):
            raise DecodeError("--saved_model without --output_dir decodes --decode_from_file or "
                              "--decode_interactive (the split's references are in the run's data_dir)")
        decoder = None
    else:
        decoder = SequenceDecoder.from_output_dir(output_dir, data_dir=data_dir, checkpoint_path=checkpoint_path,
                                                  decode_hparams=decode_hparams, t2x_usr_dir=t2x_usr_dir)
    if saved_model:  # the export decodes; the run (if given) only supplies the split
        source, checkpoint = exported, f"SavedModel {saved_model}"
    else:
        source, checkpoint = decoder, f"checkpoint {decoder.checkpoint_path}"
    model_name = decoder.model.name if decoder else "saved_model"
    if decode_interactive:
        for line in stdin:
            if line.strip():
                emit(source.decode_lines([line])[0])
        return "interactive decoding done"
    if decode_from_file:
        with open(decode_from_file, encoding="utf-8") as f:
            lines = [line.rstrip("\n") for line in f]
        outputs = source.decode_lines(lines)
        out_path = decode_to_file or (
            f"{decode_from_file}.{model_name}.beam{hp.beam_size}.alpha{hp.alpha}.decodes")
        write_lines_atomic(out_path, outputs)
        return (f"decoded {len(lines)} sentences from {decode_from_file} to {out_path} "
                f"({source.last_sentences_per_second:.1f} sentences/s, {checkpoint})")
    if saved_model:
        inputs, references = decoder.split_texts(decode_split)
        hypotheses = exported.decode_lines(inputs)
    else:
        hypotheses, references = decoder.decode_split(decode_split)
    if decode_to_file:
        write_lines_atomic(decode_to_file, hypotheses)
    score = bleu.corpus_bleu(hypotheses, references, tokenize=bleu_tokenize)
    logging.info("sacreBLEU signature: %s", score.signature)
    return (f"{decode_split}: {len(hypotheses)} sentences, {score.format()} "
            f"({source.last_sentences_per_second:.1f} sentences/s, {checkpoint})")


class SavedModelDecoder:
    """Decodes through an export's text signatures (``t2x-decoder --saved_model``): the
    lines are cut into the batches ``SequenceDecoder`` forms (sorted by the ids of the
    export's own ``encode`` signature), so that on the same inputs both write the same
    lines. The decode hparams are the export's (fixed when it was written)."""

    def __init__(self, saved_model_dir: str, batch_size: int = 32):
        try:
            self.module = tf.saved_model.load(saved_model_dir)
        except (OSError, ValueError) as e:
            raise DecodeError(f"--saved_model={saved_model_dir} is not a SavedModel: {str(e).splitlines()[0]}")
        missing = {"serving_default", "encode"} - set(self.module.signatures)
        if missing:
            raise DecodeError(f"--saved_model={saved_model_dir} has no {', '.join(sorted(missing))} signature: "
                              "export a text-to-text run (t2x-exporter --formats=saved_model)")
        self.batch_size = batch_size
        self.last_sentences_per_second = 0.0

    def decode_lines(self, lines: Sequence[str]) -> List[str]:
        stripped = [line.strip() for line in lines]
        ids = self.module.signatures["encode"](inputs=tf.constant(stripped or [""]))["ids"].numpy()
        inputs = [decoding.strip_ids(row) + [1] for row in ids][:len(stripped)]
        results: List[str] = [""] * len(stripped)
        start = time.monotonic()
        for indices in batches_by_length(inputs, self.batch_size):
            out = self.module.signatures["serving_default"](inputs=tf.constant([stripped[i] for i in indices]))
            for i, text in zip(indices, out["outputs"].numpy()):
                results[i] = text.decode("utf-8")
        self.last_sentences_per_second = len(lines) / max(time.monotonic() - start, 1e-9)
        return results


def _readable(path: str) -> bool:
    try:
        with open(path, encoding="utf-8"):
            return True
    except OSError:
        return False
