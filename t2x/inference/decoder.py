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

import os
import sys
import time
from typing import Callable, List, Optional, Sequence, TextIO, Tuple

import tensorflow as tf
from absl import logging

from t2x import decoding
from t2x.data.problem import DatasetSplit, Mode, ProblemKind, problem_kind
from t2x.errors import ConfigError, DataError
from t2x.fileio import write_lines_atomic
from t2x.hparam import HParams
from t2x.runs.checkpoints import load_trained_model


class DecodeError(ConfigError):
    """Decoding cannot start (a problem without inputs, an unreadable input file)."""


def decode_hparams_defaults() -> HParams:
    """T2T's ``decode_hparams`` names: ``beam_size`` (1: greedy), ``alpha`` (length penalty),
    ``return_beams`` (all beams, tab-separated), ``extra_length`` (decode up to input length
    + this), ``batch_size`` (sentences per batch), ``sampling_method`` ("argmax" or
    "random"), ``sampling_temp``, ``top_k`` (sampling), ``use_cache`` (the model's cached fast
    path), ``log_every`` (batches between progress lines), ``max_input_length`` (T2T's
    ``max_input_size``: a text input longer than this many tokens, EOS included, is cut, with
    a warning; 0: the problem's ``max_input_seq_length``, else the model's ``max_length``,
    else ``DEFAULT_MAX_INPUT_LENGTH``). Image generation (``t2x.inference.images``):
    ``num_samples`` (images, per class when class-conditional) and ``seed`` (the sampling
    seed: same seed, same pixels)."""
    return HParams(beam_size=1, alpha=0.6, return_beams=False, extra_length=50, batch_size=32,
                   sampling_method="argmax", sampling_temp=1.0, top_k=0, use_cache=True, log_every=10,
                   max_input_length=0, num_samples=16, seed=1)


DEFAULT_MAX_INPUT_LENGTH = 1024  # tokens: the input cap of a run that sets no max_length
SAMPLING_METHODS = ("argmax", "random")


def parse_decode_hparams(text: str = "") -> HParams:
    """``decode_hparams_defaults`` with ``text`` (``"beam_size=4,alpha=0.6"``) applied; an
    unknown name, a value of the wrong type or out of its range (``check_decode_hparams``) is
    a ``ConfigError`` naming it and the fix."""
    hp = decode_hparams_defaults()
    if text:
        hp.parse(text)
    check_decode_hparams(hp)
    return hp


def check_decode_hparams(hp: HParams) -> None:
    """Every decode hparam within its range, and no combination that would silently ignore
    one: ``beam_size >= 1``, ``alpha >= 0``, ``extra_length >= 0``, ``batch_size >= 1``,
    ``sampling_method`` argmax or random, ``sampling_temp >= 0``, ``top_k >= 0``,
    ``log_every >= 1``, ``max_input_length`` 0 or >= 2 (a token and EOS); sampling
    (``random``, ``top_k``) only with ``beam_size=1``; ``top_k`` only with ``random``."""
    def refuse(name, rule):
        raise ConfigError(f"--decode_hparams: {name}={hp.get(name)!r} {rule}")

    minimum = {"beam_size": (1, "(1: greedy; N > 1: beam search over N beams), e.g. beam_size=4"),
               "alpha": (0, "(the length penalty's exponent; 0: none), e.g. alpha=0.6"),
               "extra_length": (0, "(tokens decoded past the input's length), e.g. extra_length=50"),
               "batch_size": (1, "(sentences decoded together), e.g. batch_size=32"),
               "sampling_temp": (0, "(the softmax temperature of sampling_method=random), e.g. sampling_temp=0.7"),
               "top_k": (0, "(sample among the k likeliest tokens; 0: all), e.g. top_k=40"),
               "log_every": (1, "(batches between progress lines), e.g. log_every=10"),
               "num_samples": (1, "(images sampled, per class when class-conditional), e.g. num_samples=16"),
               "max_input_length": (0, "(tokens of a text input kept, EOS included; 0: the run's limit), "
                                       "e.g. max_input_length=256")}
    for name, (low, why) in minimum.items():
        if not hp.get(name) >= low:  # NaN too
            refuse(name, f"must be >= {low} {why}")
    if hp.max_input_length == 1:
        refuse("max_input_length", "leaves no room for a token before EOS: use 0 (the run's limit) or >= 2")
    if hp.sampling_method not in SAMPLING_METHODS:
        refuse("sampling_method", f"is not one of {', '.join(SAMPLING_METHODS)}: argmax is greedy (or beam "
                                  "search with beam_size > 1), random samples (sampling_temp, top_k)")
    if hp.beam_size > 1 and hp.sampling_method == "random":
        raise ConfigError(f"--decode_hparams: sampling_method='random' with beam_size={hp.beam_size}: beam "
                          "search does not sample; use beam_size=1 to sample, or drop sampling_method=random")
    if hp.top_k and hp.sampling_method != "random":
        raise ConfigError(f"--decode_hparams: top_k={hp.top_k} applies only to sampling: add "
                          "sampling_method=random (with beam_size=1), or drop top_k")


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

    reads_text = True  # its inputs are text (``t2x.inference.attention`` draws over their tokens)

    def __init__(self, model, problem, data_dir: str, decode_hparams: Optional[HParams] = None):
        self.model = model
        self.problem = problem
        self.data_dir = data_dir
        self.decode_hparams = decode_hparams or decode_hparams_defaults()
        if problem_kind(model.problem_hparams) != ProblemKind.TEXT2TEXT:
            kinds = {k: model.problem_hparams.modality.get(k) for k in ("inputs", "targets")}
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
        hp = parse_decode_hparams(decode_hparams)
        decoder = decoder_for(model, problem, data_dir, hp) if cls is SequenceDecoder else \
            cls(model, problem, data_dir, hp)
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
        self.last_decoded = (list(inputs), results)  # the ids, for --attention_dir
        return results

    # -- text -----------------------------------------------------------------------
    @property
    def max_input_length(self) -> int:
        """Tokens of a text input kept, EOS included: ``decode_hparams.max_input_length``,
        else the problem's ``max_input_seq_length``, else the model's ``max_length``, else
        ``DEFAULT_MAX_INPUT_LENGTH`` (T2T cut inputs to ``max_input_seq_length`` too)."""
        return int(self.decode_hparams.get("max_input_length", 0)
                   or self.model.problem_hparams.get("max_input_seq_length", 0)
                   or getattr(self.model, "hparams", {}).get("max_length", 0)
                   or DEFAULT_MAX_INPUT_LENGTH)

    def encode_input(self, line: str, where: str = "input") -> List[int]:
        """One text line -> its ids, EOS appended (not cut: ``decode_lines`` cuts). A line the
        vocabulary cannot encode (words for an integer vocabulary, an id out of range) is a
        DataError naming ``where`` (``file:line``), the bad token and what is expected."""
        from t2x.data.text_encoder import EOS_ID, NUM_RESERVED_TOKENS, TextEncoder

        encoder = self.encoders["inputs"]
        vocab_size = int(self.model.problem_hparams.vocab_size["inputs"])
        text = line.strip()
        if type(encoder).encode is TextEncoder.encode:  # integer symbols (algorithmic problems)
            top = vocab_size - NUM_RESERVED_TOKENS
            for token in text.split():
                if not (token.isascii() and token.isdigit() and int(token) < top):
                    raise DataError(f"{where}: {token[:40]!r} is not a symbol of {self.problem.name}: its inputs are "
                                    f"space-separated integers 0..{top - 1} (vocab_size {vocab_size} less PAD and "
                                    f"EOS), e.g. '{' '.join(str(i % top) for i in range(4))}'")
        ids = encoder.encode(text)
        bad = [i for i in ids if not 0 <= i < vocab_size]
        if bad:
            raise DataError(f"{where}: encodes to id {bad[0]}, outside the model's vocabulary [0, {vocab_size}): "
                            "the run's vocabulary file (--data_dir) is not the one it was trained with")
        return ids + [EOS_ID]

    def decode_lines(self, lines: Sequence[str], *, source: str = "input",
                     line_numbers: Optional[Sequence[int]] = None) -> List[str]:
        """Source lines -> output lines (beams joined by tabs with ``return_beams``). Inputs
        longer than ``max_input_length`` tokens are cut to it (their line numbers, counted
        from 1 or given by ``line_numbers``, in ``last_truncated``); errors name
        ``<source>:<line>``."""
        numbers = list(line_numbers) if line_numbers is not None else list(range(1, len(lines) + 1))
        limit = self.max_input_length
        inputs, self.last_truncated = [], []
        for n, line in zip(numbers, lines):
            ids = self.encode_input(line, f"{source}:{n}")
            if len(ids) > limit:
                self.last_truncated.append(n)
                ids = ids[:limit - 1] + ids[-1:]
            inputs.append(ids)
        outputs = self.decode_ids(inputs)
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

    def decode_split(self, split: Optional[str] = "dev", max_examples: int = 0,
                     problem=None) -> Tuple[List[str], List[str]]:
        """Decodes a split's TFRecords: (hypotheses, references), in the split's order.
        ``problem``: read through it instead of the run's problem (a view of
        ``eval_problems()``; ``split=None`` then reads the view's own split)."""
        problem = problem or self.problem
        ds = problem.dataset(Mode.EVAL, self.data_dir, dataset_split=split, deterministic=True)
        if max_examples:
            ds = ds.take(max_examples)
        inputs, references = [], []
        target = self.encoders["targets"]
        for example in ds.as_numpy_iterator():
            inputs.append(example["inputs"].tolist())
            references.append(target.decode(decoding.strip_ids(example["targets"])))
        outputs = self.decode_ids(inputs)
        return [target.decode(beams[0]) for beams in outputs], references


def decoder_for(model, problem, data_dir: str, decode_hparams: Optional[HParams] = None):
    """The decoder of a trained model's kind of problem: a ``SpeechDecoder``
    (``t2x.inference.speech``: recordings in) for speech recognition, else a
    ``SequenceDecoder`` (text in). Both have ``decode_lines`` and ``decode_split``."""
    decode_hparams = decode_hparams or decode_hparams_defaults()
    if problem_kind(model.problem_hparams) == ProblemKind.SPEECH_RECOGNITION:
        from t2x.inference.speech import SpeechDecoder

        return SpeechDecoder(model, problem, data_dir, decode_hparams, infer_kwargs(decode_hparams))
    if problem_kind(model.problem_hparams) == ProblemKind.IMAGE_GENERATION:
        from t2x.inference.images import ImageSampler

        return ImageSampler(model, problem, data_dir, decode_hparams)  # samples, not decodes
    return SequenceDecoder(model, problem, data_dir, decode_hparams)


def decode(output_dir: str, *, data_dir: Optional[str] = None, checkpoint_path: Optional[str] = None,
           decode_hparams: str = "", decode_from_file: Optional[str] = None,
           decode_to_file: Optional[str] = None, decode_split: str = "dev",
           decode_interactive: bool = False, bleu_tokenize: str = "13a",
           t2x_usr_dir: Optional[str] = None, stdin: TextIO = sys.stdin,
           emit: Callable[[str], None] = print, saved_model: Optional[str] = None,
           announce: Callable[[str], None] = logging.warning, attention_dir: Optional[str] = None,
           attention_examples: int = 20, image_dir: Optional[str] = None) -> str:
    """The library behind ``t2x-decoder``; returns its summary line.

    ``decode_interactive``: each non-blank line of ``stdin`` decoded and ``emit``-ted (a line
    the vocabulary cannot encode is ``announce``-d and skipped). Else ``decode_from_file``:
    its lines decoded into ``decode_to_file`` (default
    ``<file>.<model>.beam<N>.alpha<A>.decodes``), in file order, atomically; a blank line
    gives a blank output line without being decoded (the output stays line-aligned with the
    input), a file with no non-blank line is refused. Else ``decode_split`` decoded and
    scored with sacreBLEU (``bleu_tokenize``) and exact match, the decodes written to
    ``decode_to_file`` when given; on the dev split of a problem with evaluation views
    (bAbI's tasks, Mathematics' modules, length buckets) each view is decoded too and the
    problem's ``eval_report`` table ``emit``-ted (``views_report``). Inputs longer than the run's limit (``max_input_length``) are cut, with one
    ``announce``-d line naming them. Bad ``decode_hparams``, an unreadable, non-UTF-8 or
    empty input file, a line the vocabulary cannot encode, and a ``decode_to_file`` that
    cannot be written fail before the model loads (the vocabulary check right after the
    run's vocabulary is read, before decoding). With ``saved_model`` (an export's
    ``saved_model/``) the export decodes instead of the checkpoint (its decode hparams are
    fixed in it; only ``batch_size`` applies); ``output_dir`` is then needed only for
    ``decode_split``. ``attention_dir``: the attention of the first ``attention_examples``
    decoded examples and a page to see it (``t2x.inference.attention``); a directory that
    cannot be written is refused before the model loads. An image generation run writes PNG
    samples instead (``t2x.inference.images``), to ``image_dir`` (default: ``decode_to_file``'s
    folder, else ``<output_dir>/samples``); ``image_dir`` on any other run is refused."""
    from t2x import bleu

    hp = parse_decode_hparams(decode_hparams)  # a typo fails before the model loads
    if image_dir:  # image generation: PNG samples of the run (t2x.inference.images)
        from t2x.inference.images import ImageSampler

        model, problem, run_data_dir, path = load_trained_model(output_dir, data_dir=data_dir, t2x_usr_dir=t2x_usr_dir,
                                                                checkpoint_path=checkpoint_path)
        return ImageSampler(model, problem, run_data_dir, hp).write(image_dir) + f" (checkpoint {path})"
    if attention_dir:
        from t2x.inference import attention as attention_lib

        attention_dir = attention_lib.check_decode_request(attention_dir, attention_examples, saved_model,
                                                           decode_interactive)
    numbered: List[Tuple[int, str]] = []
    if decode_from_file and not decode_interactive:
        numbered = read_decode_inputs(decode_from_file)
    if decode_to_file:
        check_writable(decode_to_file, "--decode_to_file")
    elif decode_from_file and not decode_interactive:
        check_writable(decode_from_file + ".decodes", "--decode_to_file (default: next to --decode_from_file)")
    if saved_model:
        exported = SavedModelDecoder(saved_model, int(hp.batch_size))
    if saved_model and not output_dir:
        if not (decode_from_file or decode_interactive):
            raise DecodeError("--saved_model without --output_dir decodes --decode_from_file or "
                              "--decode_interactive (the split's references are in the run's data_dir)")
        decoder = None
    else:
        try:
            decoder = SequenceDecoder.from_output_dir(output_dir, data_dir=data_dir, checkpoint_path=checkpoint_path,
                                                      decode_hparams=decode_hparams, t2x_usr_dir=t2x_usr_dir)
        except DecodeError as e:
            if attention_dir:  # not a text-to-text run: say what --attention_dir needs
                raise attention_lib.AttentionError(f"--attention_dir shows a text-to-text run's attention over its "
                                                   f"tokens, and {e}; drop --attention_dir") from None
            raise
    if attention_dir:
        attention_lib.check_decoder(decoder)
    if getattr(decoder, "samples_images", False):  # an image generation run: PNGs, to decode_to_file's folder
        folder = (os.path.dirname(os.path.abspath(decode_to_file)) if decode_to_file
                  else os.path.join(output_dir, "samples"))
        return decoder.write(folder) + f" (checkpoint {decoder.checkpoint_path})"
    if saved_model:  # the export decodes; the run (if given) only supplies the split
        source, checkpoint = exported, f"SavedModel {saved_model}"
    else:
        source, checkpoint = decoder, f"checkpoint {decoder.checkpoint_path}"
    model_name = decoder.model.name if decoder else "saved_model"
    if decode_interactive:
        for n, line in enumerate(stdin, 1):
            if line.strip():
                try:
                    emit(source.decode_lines([line], source="stdin", line_numbers=[n])[0])
                except DataError as e:
                    announce(f"skipped: {e}")
                    continue
                _announce_truncated(source, "stdin", announce)
        return "interactive decoding done"
    if decode_from_file:
        texts = [line for _, line in numbered if line.strip()]
        numbers = [n for n, line in numbered if line.strip()]
        decoded = iter(source.decode_lines(texts, source=decode_from_file, line_numbers=numbers))
        _announce_truncated(source, decode_from_file, announce)
        outputs = [next(decoded) if line.strip() else "" for _, line in numbered]
        out_path = decode_to_file or (
            f"{decode_from_file}.{model_name}.beam{hp.beam_size}.alpha{hp.alpha}.decodes")
        write_lines_atomic(out_path, outputs)
        blank = len(numbered) - len(texts)
        shown = attention_lib.write_decoded(attention_dir, decoder, attention_examples) if attention_dir else ""
        return (f"decoded {len(texts)} sentences from {decode_from_file} to {out_path}"
                + (f" ({blank} blank line(s) left blank)" if blank else "")
                + f" ({source.last_sentences_per_second:.1f} sentences/s, {checkpoint})" + shown)
    splits = decoder.problem.split_names()
    if decode_split not in splits:
        raise DecodeError(f"--decode_split={decode_split!r} is not a split of {decoder.problem.name}: "
                          f"use one of {', '.join(splits)} (or --decode_from_file)")
    if saved_model:
        inputs, references = decoder.split_texts(decode_split)
        hypotheses = exported.decode_lines(inputs)
    else:
        hypotheses, references = decoder.decode_split(decode_split)
    shown = attention_lib.write_decoded(attention_dir, decoder, attention_examples) if attention_dir else ""
    if decode_to_file:
        write_lines_atomic(decode_to_file, hypotheses)
    if problem_kind(decoder.model.problem_hparams) == ProblemKind.SPEECH_RECOGNITION:
        from t2x import metrics

        scores = metrics.decode_results(["wer", "edit_distance"], hypotheses, references)
        return (f"{decode_split}: {len(hypotheses)} recordings, WER {100 * scores['wer']:.2f} %, "
                f"CER {100 * scores['edit_distance']:.2f} % ({source.last_sentences_per_second:.1f} "
                f"recordings/s, {checkpoint})")
    score = bleu.corpus_bleu(hypotheses, references, tokenize=bleu_tokenize)
    logging.info("sacreBLEU signature: %s", score.signature)
    exact = sum(h == r for h, r in zip(hypotheses, references)) / max(len(hypotheses), 1)
    rouge = [name for name in decoder.problem.eval_metrics() if name.startswith("rouge_")]
    if rouge:  # summarization: the problem's ROUGE on the same decodes
        from t2x import metrics

        scores = metrics.decode_results(rouge, hypotheses, references)
        rouge = "".join(f", {name} {scores[name]:.4f}" for name in rouge)
    if decode_split == DatasetSplit.EVAL and not saved_model:
        report = views_report(decoder)
        if report:
            emit(report.rstrip("\n"))
    return (f"{decode_split}: {len(hypotheses)} sentences, {score.format()}, exact match {exact:.4f}{rouge or ''} "
            f"({source.last_sentences_per_second:.1f} sentences/s, {checkpoint})" + shown)


def views_report(decoder: "SequenceDecoder") -> str:
    """The problem's ``eval_report`` (bAbI's per-task table, Mathematics' per-module one,
    the length buckets) from real decodes: every view of ``eval_problems()`` but the problem
    itself decoded, its exact match (decode == reference) given as both ``accuracy`` and
    ``accuracy_per_sequence``. ``""`` for a problem with no views or no report."""
    views = {name: view for name, view in decoder.problem.eval_problems().items() if name}
    if not views:
        return ""
    results = {}
    for name, view in views.items():
        hypotheses, references = decoder.decode_split(None, problem=view)
        exact = sum(h == r for h, r in zip(hypotheses, references)) / max(len(hypotheses), 1)
        results[name] = {"accuracy": exact, "accuracy_per_sequence": exact}
    report = decoder.problem.eval_report(results)
    return f"decoded exact match, per view:\n{report}" if report else ""


def read_decode_inputs(path: str) -> List[Tuple[int, str]]:
    """``(line number, line)`` of ``--decode_from_file``: a DataError (one line) when it is
    missing, a directory, unreadable, not UTF-8 (``file:line``) or holds no non-blank line."""
    from t2x.data.text_lines import read_lines

    fix = "name a UTF-8 text file of source sentences, one a line"
    try:
        numbered = list(read_lines(path, "--decode_from_file", fix))
    except FileNotFoundError:  # t2x's DataMissingError, said as the other cases say it
        raise DecodeError(f"--decode_from_file={path} cannot be read: no such file; {fix}") from None
    if not any(line.strip() for _, line in numbered):
        raise DecodeError(f"--decode_from_file={path} is empty" + (f" ({len(numbered)} blank line(s))"
                          if numbered else "") + f": nothing to decode; {fix}")
    return numbered


def check_writable(path: str, flag: str) -> None:
    """Refuses (DecodeError) an output file that could not be written: a directory, a path
    under a file, a directory without write permission (the nearest one that exists).
    Writes nothing: missing directories are made when the decodes are written."""
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(path):
        raise DecodeError(f"{flag}={path} is a directory: name a file to write the decodes to")
    parent = os.path.dirname(path)
    while not os.path.exists(parent) and os.path.dirname(parent) != parent:
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise DecodeError(f"{flag}={path} cannot be written: {parent} is a file, not a directory; "
                          "choose another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DecodeError(f"{flag}={path} cannot be written: {parent} is read-only for this user; "
                          "choose a writable path (or make it writable) before decoding")


def _announce_truncated(source, where: str, announce: Callable[[str], None]) -> None:
    truncated = getattr(source, "last_truncated", [])
    if truncated:
        shown = ", ".join(str(n) for n in truncated[:10]) + (", ..." if len(truncated) > 10 else "")
        announce(f"warning: {len(truncated)} input line(s) of {where} longer than {source.max_input_length} "
                 f"tokens cut to {source.max_input_length} (line(s) {shown}); "
                 "--decode_hparams=max_input_length=N sets the limit")


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

    def decode_lines(self, lines: Sequence[str], *, source: str = "input",
                     line_numbers: Optional[Sequence[int]] = None) -> List[str]:
        """As ``SequenceDecoder.decode_lines`` (the export encodes; ``source`` and
        ``line_numbers`` are not used: an export has no input cap to report)."""
        del source, line_numbers
        self.last_truncated = []
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

