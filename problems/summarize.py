"""Summarization: article in, summary out (T2T's ``summarize_*`` problems).

* ``summarize_bbc_news``: BBC News Summary (Greene & Cunningham 2006; 2,225 articles in 5
  categories, each with an extractive summary: sentences of the article). ``--tmp_dir`` holds
  the release's folder, named ``bbc_news_summary`` or ``BBC News Summary`` (or is that folder):
  ``News Articles/<category>/NNN.txt`` and ``Summaries/<category>/NNN.txt``. Files are UTF-8,
  or Latin-1 where they are not (``sport/199.txt``). An article's first line is its title:
  left out of the input (``include_title=True`` keeps it, as the body's first sentence); the
  body's paragraphs are joined by spaces. The summaries' sentences are glued together in
  the release (``...said.The firm...``): a space is put back where a sentence end meets a
  capital (``space_sentences``). **Split** (fixed, by the file's number ``NNN``):
  ``NNN % 10 == 0`` test, ``NNN % 10 == 5`` dev, the rest train: **1,781 train, 223 dev,
  221 test** (business 408/51/51, entertainment 309/39/38, politics 334/42/41, sport
  409/51/51, tech 321/40/40). Vocabulary: T2T's subword encoder of about 8k entries
  (``approx_vocab_size = 2**13``) built from the train split:
  ``vocab.summarize_bbc_news.8192.subword``.
* ``summarize_from_files``: your own line-aligned files, one article / one summary a line
  (gin ``SummarizeFromFiles.train_inputs``, ``train_targets``, ``dev_inputs``,
  ``dev_targets``), as ``translate_from_files``; an 8k subword vocabulary from train.
* ``summarize_cnn_dailymail32k`` (T2T's): CNN/DailyMail's story files, ``cnn_stories.tgz``
  (``cnn/stories/<sha1>.story``) and ``dailymail_stories.tgz`` (``dailymail/stories/...``),
  or those folders extracted, and See et al.'s split lists ``all_train.txt``,
  ``all_val.txt``, ``all_test.txt`` (one URL a line; a story's file name is the sha1 of its
  URL), all in ``--tmp_dir``: nothing is downloaded (the stories are behind Google Drive), a
  missing file is one line naming what to put there. A story is the article's lines, then
  ``@highlight`` paragraphs: stripped lines not ending in a sentence end get a ``.`` (T2T's
  ``fix_run_on_sents``), the article's lines are joined by spaces, the highlights too, as
  the summary; a story without article or highlights is skipped, a listed URL without a
  story is counted and logged (T2T's). Shards 100/10/10; a 32k subword vocabulary
  (``approx_vocab_size = 2**15``). Read from the archives without extracting, in archive order
  (extracted folders: in file-name order).

**Long inputs** (articles of 300-800 words, ~1.3 subword tokens a word): inputs are cut to
their first ``max_input_seq_length`` tokens (default **512**, EOS kept as the last one: T2T's
``max_input_seq_length`` cut), targets to ``max_target_seq_length`` (default 0: not cut),
in the training and eval pipelines and in every decode (``t2x.decoding`` reads the problem
hparams' ``max_input_seq_length``; ``t2x-decoder`` cuts its text lines to it, and so does an
export). The limit is the problem's (gin ``SummarizeBbcNews.max_input_seq_length=N``, for
every run of that problem) unless the model hparams carry T2T's ``max_input_seq_length`` > 0
(the ``transformer_prepend*`` sets do, as 0). Token budget: ``batch_size`` counts the
longest feature of an example (T2T's length buckets), so with inputs of 512 a batch of 4096
holds 8 articles; examples longer than ``max_length`` are dropped in training only after the
cut (``max_length`` >= the cut keeps every article whose summary fits). ``transformer_prepend``
reads inputs and targets as one sequence: budget for their sum.

**Metrics**: teacher-forced ``accuracy`` and ``neg_log_perplexity``, and ``rouge_1``,
``rouge_2``, ``rouge_L`` (Google's ``rouge-score``, F-measure, no stemming; ROUGE-L over the
whole text, not ``rougeLsum``) on real decodes of ``--eval_decode_split`` (default dev).
``benchmarks/summarize_lead.py`` scores Lead-3 and Lead-k with the same code.
"""

import hashlib
import os
import re
import tarfile
from typing import Iterator, List, Optional, Tuple

import gin
from absl import logging

from t2x import decoding, registry
from t2x.data.problem import DatasetSplit, SplitSpec
from t2x.data.text_problems import Text2TextProblem
from t2x.errors import DataError, DataMissingError
from t2x.problems.from_files import TranslateFromFiles, read_parallel

# -------------------------------------------------------------------- sentences --
_SENTENCE_END = re.compile(r"[.!?]+[\"'\u201d\u2019)]*(?=\s+[\"'\u201c\u2018(]?[A-Z0-9])")
_GLUED_END = re.compile(r"(?:(?<=[a-z0-9%)\]])|(?<=[A-Z]{2}))[.!?](?=[\"']?[A-Z])")


def split_sentences(text: str) -> List[str]:
    """Sentences of ``text``: cut after ``.``, ``!`` or ``?`` (and closing quotes) followed by
    white space and a capital, a digit or an opening quote. No abbreviation list (BBC writes
    "Mr Smith")."""
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        sentences.append(text[start:match.end()].strip())
        start = match.end()
    sentences.append(text[start:].strip())
    return [s for s in sentences if s]


def space_sentences(text: str) -> str:
    """BBC News Summary's summaries glue sentences together (``said.The``, ``said."I``): a
    space after each sentence end (a lowercase letter, digit, ``%``, bracket or two capitals,
    then ``.!?``; not ``U.S.``) that meets a capital, directly or through a quote; a quote after the end goes
    with the sentence it closes when an odd number of ``"`` precede it, else with the next."""
    pieces, start = [], 0
    for match in _GLUED_END.finditer(text):
        cut = match.end()
        if text[cut] == '"' and text.count('"', 0, cut) % 2 == 1:
            cut += 1  # the quote closes the sentence that ends here
        elif text[cut] == "'":
            continue  # ambiguous (an apostrophe?): leave it
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return " ".join(p.strip() for p in pieces if p.strip())


def read_text(path: str) -> str:
    """A file's text: UTF-8 (a BOM dropped), else Latin-1 (every byte is a character)."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


# ------------------------------------------------------------- the common base --
class SummarizationProblem(Text2TextProblem):
    """Text2Text with long inputs cut (module docstring) and ROUGE on real decodes."""

    approx_vocab_size = 2 ** 13
    max_input_seq_length = 512
    max_target_seq_length = 0

    def limits(self, hparams) -> Tuple[int, int]:
        """(input, target) token limits: T2T's hparams ``max_input_seq_length`` /
        ``max_target_seq_length`` when the model hparams carry them > 0, else the problem's."""
        def pick(key):
            value = int((hparams.get(key, 0) if hparams is not None else 0) or 0)
            return value or int(getattr(self, key) or 0)
        return pick("max_input_seq_length"), pick("max_target_seq_length")

    def hparams(self, defaults, model_hparams):
        super().hparams(defaults, model_hparams)
        defaults.max_input_seq_length, defaults.max_target_seq_length = self.limits(model_hparams)

    def preprocess_example(self, example, mode, hparams):
        """In ``tf.data``, one example: inputs (targets) longer than the limits cut to them,
        EOS kept. Without ``hparams`` (a split read for decoding) the article stays whole:
        the decode itself cuts it to the run's limit."""
        if hparams is None:
            return example
        example = dict(example)
        for key, limit in zip(("inputs", "targets"), self.limits(hparams)):
            if limit and key in example:
                example[key] = decoding.truncate_ids(example[key], limit)
        return example

    def eval_metrics(self):
        return ["accuracy", "neg_log_perplexity", "rouge_1", "rouge_2", "rouge_L"]


# ------------------------------------------------------------------------ BBC --
BBC_CATEGORIES = ("business", "entertainment", "politics", "sport", "tech")
BBC_FOLDERS = ("bbc_news_summary", "BBC News Summary")


def bbc_split(number: int) -> str:
    """The fixed split of article ``NNN``: test when ``NNN % 10 == 0``, dev when 5, else train."""
    return DatasetSplit.TEST if number % 10 == 0 else DatasetSplit.EVAL if number % 10 == 5 else DatasetSplit.TRAIN


def bbc_root(tmp_dir: str) -> str:
    """The release's folder in (or at) ``tmp_dir``; a one-line DataMissingError otherwise."""
    tmp_dir = os.path.expanduser(tmp_dir or "")
    for candidate in [os.path.join(tmp_dir, name) for name in BBC_FOLDERS] + [tmp_dir]:
        if os.path.isdir(os.path.join(candidate, "News Articles")):
            return candidate
    raise DataMissingError(f"BBC News Summary is not in --tmp_dir={tmp_dir}: put the release's folder there as "
                           f"{BBC_FOLDERS[0]}/ (or '{BBC_FOLDERS[1]}/'), holding 'News Articles/<category>/NNN.txt' "
                           "and 'Summaries/<category>/NNN.txt'")


def bbc_article(text: str, include_title: bool = False) -> str:
    """An article file's text -> the input: its body's paragraphs joined by spaces (the
    first line, the title, left out unless ``include_title``)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not include_title:
        lines = lines[1:]
    return " ".join(" ".join(lines).split())


def bbc_pairs(tmp_dir: str, split: Optional[str] = None, include_title: bool = False
              ) -> Iterator[Tuple[str, str, str]]:
    """``(article, summary, "<category>/NNN.txt")`` of ``split`` (all splits when None), by
    category then number. One-line DataErrors: an article without its summary file (or a
    summary without its article), an empty article or summary."""
    root = bbc_root(tmp_dir)
    for category in BBC_CATEGORIES:
        articles_dir = os.path.join(root, "News Articles", category)
        summaries_dir = os.path.join(root, "Summaries", category)
        if not os.path.isdir(articles_dir):
            raise DataMissingError(f"{articles_dir} is missing: BBC News Summary has 5 categories "
                                   f"({', '.join(BBC_CATEGORIES)}); restore the release's folder")
        names = sorted(n for n in os.listdir(articles_dir) if re.fullmatch(r"\d+\.txt", n))
        summaries = set(os.listdir(summaries_dir)) if os.path.isdir(summaries_dir) else set()
        orphans = sorted(n for n in summaries if re.fullmatch(r"\d+\.txt", n) and n not in names)
        if orphans:
            raise DataError(f"{os.path.join(summaries_dir, orphans[0])} has no article "
                            f"{os.path.join(articles_dir, orphans[0])}: restore it, or remove the summary "
                            f"({len(orphans)} such file(s) in {category})")
        for name in names:
            if split is not None and bbc_split(int(name[:-4])) != split:
                continue
            article_path = os.path.join(articles_dir, name)
            if name not in summaries:
                raise DataError(f"{article_path} has no matching summary {os.path.join(summaries_dir, name)}: "
                                "restore it from the release, or remove the article")
            article = bbc_article(read_text(article_path), include_title)
            summary = space_sentences(" ".join(read_text(os.path.join(summaries_dir, name)).split()))
            for what, path, text in (("article", article_path, article),
                                     ("summary", os.path.join(summaries_dir, name), summary)):
                if not text:
                    raise DataError(f"{path}: empty {what}" + (" (a title and no body)" if what == "article" else "")
                                    + ": restore the file from the release, or remove the article and its summary")
            yield article, summary, f"{category}/{name}"


@registry.register_problem
@gin.configurable
class SummarizeBbcNews(SummarizationProblem):
    """BBC News Summary, article body -> extractive summary (module docstring: layout,
    split 1,781/223/221, title handling, an 8k subword vocabulary, inputs cut to 512)."""

    def __init__(self, was_reversed: bool = False, was_copy: bool = False, *, include_title: bool = False,
                 max_input_seq_length: int = 512, max_target_seq_length: int = 0):
        super().__init__(was_reversed=was_reversed, was_copy=was_copy)
        self.include_title = include_title
        self.max_input_seq_length, self.max_target_seq_length = max_input_seq_length, max_target_seq_length

    @property
    def dataset_splits(self):
        return [SplitSpec(DatasetSplit.TRAIN, 4), SplitSpec(DatasetSplit.EVAL, 1), SplitSpec(DatasetSplit.TEST, 1)]

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        for article, summary, _ in bbc_pairs(tmp_dir, dataset_split, self.include_title):
            yield {"inputs": article, "targets": summary}


# ----------------------------------------------------------------- your files --
@registry.register_problem
@gin.configurable
class SummarizeFromFiles(SummarizationProblem, TranslateFromFiles):
    """Line-aligned article and summary files (``SummarizeFromFiles.train_inputs``, ...):
    a blank pair is skipped; a blank article with a summary, or an article with a blank
    summary, and files of different lengths are one-line errors naming ``file:line``."""

    def __init__(self, was_reversed: bool = False, was_copy: bool = False, *,
                 train_inputs: Optional[str] = None, train_targets: Optional[str] = None,
                 dev_inputs: Optional[str] = None, dev_targets: Optional[str] = None,
                 vocab_type: str = "subword", approx_vocab_size: int = 2 ** 13, train_shards: int = 10,
                 file_byte_budget: float = 1e6, max_subtoken_length: Optional[int] = 200,
                 max_input_seq_length: int = 512, max_target_seq_length: int = 0):
        super().__init__(was_reversed=was_reversed, was_copy=was_copy, train_inputs=train_inputs,
                         train_targets=train_targets, dev_inputs=dev_inputs, dev_targets=dev_targets,
                         vocab_type=vocab_type, approx_vocab_size=approx_vocab_size, train_shards=train_shards,
                         file_byte_budget=file_byte_budget, max_subtoken_length=max_subtoken_length)
        self.max_input_seq_length, self.max_target_seq_length = max_input_seq_length, max_target_seq_length

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        prefix = "train" if dataset_split == DatasetSplit.TRAIN else "dev"
        name = type(self).__name__
        inputs, targets = self._path(f"{prefix}_inputs"), self._path(f"{prefix}_targets")
        pairs = read_parallel(inputs, targets, f"{name}.{prefix}_inputs", f"{name}.{prefix}_targets")
        for n, (article, summary) in enumerate(pairs, 1):
            article, summary = article.strip(), summary.strip()
            if article and summary:
                yield {"inputs": article, "targets": summary}
            elif article or summary:
                blank, other = (inputs, targets) if not article else (targets, inputs)
                raise DataError(f"{blank}:{n}: empty {'article' if not article else 'summary'}, but {other}:{n} is "
                                "not: one article and its summary a line in both files (blank in both to skip)")


# ---------------------------------------------------------------- CNN/DailyMail --
CNN_DM_ARCHIVES = {"cnn": "cnn_stories.tgz", "dailymail": "dailymail_stories.tgz"}
CNN_DM_URL_LISTS = {DatasetSplit.TRAIN: "all_train.txt", DatasetSplit.EVAL: "all_val.txt",
                    DatasetSplit.TEST: "all_test.txt"}
CNN_DM_SOURCES = ("cnn_stories.tgz and dailymail_stories.tgz from https://cs.nyu.edu/~kcho/DMQA/ (or their "
                  "extracted cnn/stories/ and dailymail/stories/), and all_train.txt, all_val.txt, all_test.txt "
                  "from https://github.com/abisee/cnn-dailymail/tree/master/url_lists")
# T2T's (See et al.'s) sentence ends: a line ending otherwise gets a period.
END_TOKENS = (".", "!", "?", "...", "'", "`", '"', "\u2019", "\u201d", ")")


def url_hash(url: str) -> str:
    """A story's file name (without ``.story``): the hex sha1 of its URL (T2T's hashing)."""
    return hashlib.sha1(url.strip().encode("utf-8")).hexdigest()


def parse_story(text: str) -> Tuple[str, str]:
    """A ``.story`` file -> (article, summary): T2T's ``example_generator`` (module
    docstring); ("", "") when either part is missing."""
    story, highlights, reading_highlights = [], [], False
    for line in text.splitlines():
        line = line.strip()
        if line and "@highlight" not in line and not line.endswith(END_TOKENS):
            line += "."
        if not line:
            continue
        if line.startswith("@highlight"):
            if not story:
                return "", ""  # no article text
            reading_highlights = True
        elif reading_highlights:
            highlights.append(line)
        else:
            story.append(line)
    if not story or not highlights:
        return "", ""
    return " ".join(story), " ".join(highlights)


def _story_files(tmp_dir: str, source: str) -> Iterator[Tuple[str, bytes]]:
    """(file name, bytes) of every story of ``source`` (cnn, dailymail): from the extracted
    ``<source>/stories/`` folder when it exists, else read from the archive."""
    folder = os.path.join(tmp_dir, source, "stories")
    if os.path.isdir(folder):
        for name in sorted(os.listdir(folder)):
            if name.endswith(".story"):
                with open(os.path.join(folder, name), "rb") as f:
                    yield name, f.read()
        return
    with tarfile.open(os.path.join(tmp_dir, CNN_DM_ARCHIVES[source]), "r:gz") as archive:
        for member in archive:
            if member.isfile() and member.name.endswith(".story"):
                yield os.path.basename(member.name), archive.extractfile(member).read()


@registry.register_problem
class SummarizeCnnDailymail32k(SummarizationProblem):
    """T2T's ``summarize_cnn_dailymail32k``: CNN and Daily Mail stories -> their highlights
    (module docstring: files, parsing, split lists, 32k vocabulary)."""

    approx_vocab_size = 2 ** 15

    @property
    def dataset_splits(self):
        return [SplitSpec(DatasetSplit.TRAIN, 100), SplitSpec(DatasetSplit.EVAL, 10),
                SplitSpec(DatasetSplit.TEST, 10)]

    def prepare_data(self, data_dir, tmp_dir):
        tmp_dir = os.path.expanduser(tmp_dir or "")
        missing = [CNN_DM_ARCHIVES[source] for source in CNN_DM_ARCHIVES
                   if not os.path.isdir(os.path.join(tmp_dir, source, "stories"))
                   and not os.path.isfile(os.path.join(tmp_dir, CNN_DM_ARCHIVES[source]))]
        missing += [name for name in CNN_DM_URL_LISTS.values() if not os.path.isfile(os.path.join(tmp_dir, name))]
        if missing:
            raise DataMissingError(f"{self.name}: {', '.join(missing)} missing in --tmp_dir={tmp_dir}; put there "
                                   f"{CNN_DM_SOURCES}")
        super().prepare_data(data_dir, tmp_dir)

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        tmp_dir = os.path.expanduser(tmp_dir or "")
        with open(os.path.join(tmp_dir, CNN_DM_URL_LISTS[dataset_split]), encoding="utf-8") as f:
            wanted = {url_hash(line) for line in f if line.strip()}
        found, skipped = set(), 0
        for source in CNN_DM_ARCHIVES:
            for name, raw in _story_files(tmp_dir, source):
                if name[:-len(".story")] not in wanted:
                    continue
                found.add(name[:-len(".story")])
                article, summary = parse_story(raw.decode("utf-8", errors="replace"))
                if not article:
                    skipped += 1
                    continue
                yield {"inputs": article, "targets": summary}
        if len(found) < len(wanted) or skipped:
            logging.warning("%s %s: %d of %d listed stories not found, %d without article or highlights skipped",
                            self.name, dataset_split, len(wanted) - len(found), len(wanted), skipped)


__all__ = ["SummarizationProblem", "SummarizeBbcNews", "SummarizeFromFiles", "SummarizeCnnDailymail32k",
           "split_sentences", "space_sentences", "bbc_pairs", "bbc_split", "parse_story", "url_hash"]

