"""Lead baselines for summarization, scored by t2x's own ROUGE (``t2x.metrics.decode_results``,
the code evaluation and ``t2x-decoder`` use) on the same articles a model is tested on.

    python benchmarks/summarize_lead.py --bbc_dir=../shared/data/bbc_news_summary [--split=test]
        [--decodes=test.hyp] [--write_split_dir=DIR]
    python benchmarks/summarize_lead.py --articles=test.articles --summaries=test.summaries \\
        --train_summaries=train.summaries [--decodes=test.hyp]

* Lead-3: an article's first 3 sentences (``t2x.problems.summarize.split_sentences``);
* Lead-k: its first k, k = the median number of sentences of the train split's summaries;
* with ``--decodes`` (a model's outputs, one line per article of the split, in the split's
  order: ``--write_split_dir`` writes ``<split>.articles``/``<split>.summaries`` for
  ``t2x-decoder --decode_from_file``), the model's ROUGE on the same references.

BBC News Summary is read as ``summarize_bbc_news`` reads it (``bbc_pairs``: title left out,
the summaries' glued sentences spaced; split by file number, test = ``NNN % 10 == 0``).
Prints ROUGE-1/2/L (F-measure, rouge-score, no stemming) for each, then one ``JSON {...}`` line.
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from t2x import metrics  # noqa: E402
from t2x.problems.summarize import bbc_pairs, split_sentences  # noqa: E402

ROUGE = ["rouge_1", "rouge_2", "rouge_L"]


def _lines(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def lead(article: str, k: int) -> str:
    return " ".join(split_sentences(article)[:k])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bbc_dir", help="BBC News Summary's folder (or the folder holding it)")
    ap.add_argument("--split", default="test", choices=["train", "dev", "test"])
    ap.add_argument("--articles", help="one article a line (instead of --bbc_dir)")
    ap.add_argument("--summaries", help="the reference summaries, line-aligned with --articles")
    ap.add_argument("--train_summaries", help="train summaries, one a line: k of Lead-k (default: --summaries)")
    ap.add_argument("--decodes", help="a model's summaries of the same articles, line-aligned")
    ap.add_argument("--write_split_dir", help="write <split>.articles and <split>.summaries here")
    args = ap.parse_args(argv)
    if bool(args.bbc_dir) == bool(args.articles):
        ap.error("give --bbc_dir, or --articles with --summaries")
    if args.bbc_dir:
        pairs = list(bbc_pairs(args.bbc_dir, args.split))
        articles, references = [p[0] for p in pairs], [p[1] for p in pairs]
        train = [p[1] for p in bbc_pairs(args.bbc_dir, "train")]
        source = f"BBC News Summary {args.split} ({len(articles)} articles)"
    else:
        if not args.summaries:
            ap.error("--articles needs --summaries")
        articles, references = _lines(args.articles), _lines(args.summaries)
        if len(articles) != len(references):
            ap.error(f"{args.articles} has {len(articles)} lines, {args.summaries} {len(references)}")
        train = _lines(args.train_summaries or args.summaries)
        source = f"{args.articles} ({len(articles)} articles)"
    if args.write_split_dir:
        os.makedirs(args.write_split_dir, exist_ok=True)
        for suffix, texts in (("articles", articles), ("summaries", references)):
            with open(os.path.join(args.write_split_dir, f"{args.split}.{suffix}"), "w", encoding="utf-8") as f:
                f.writelines(text + "\n" for text in texts)
    k = int(round(statistics.median(len(split_sentences(s)) for s in train if s.strip())))
    systems = {"Lead-3": [lead(a, 3) for a in articles], f"Lead-{k} (k: train median)": [lead(a, k) for a in articles]}
    if args.decodes:
        decodes = _lines(args.decodes)
        if len(decodes) != len(articles):
            ap.error(f"--decodes={args.decodes} has {len(decodes)} lines for {len(articles)} articles")
        systems[f"model ({os.path.basename(args.decodes)})"] = decodes
    print(f"{source}; summaries: median {statistics.median(len(s.split()) for s in references):.0f} words; "
          f"k = {k} (median sentences of {len(train)} train summaries)")
    print(f"{'system':<34} {'ROUGE-1':>8} {'ROUGE-2':>8} {'ROUGE-L':>8} {'words':>6}")
    results = {}
    for name, hypotheses in systems.items():
        start = time.monotonic()
        scores = metrics.decode_results(ROUGE, hypotheses, references)
        words = statistics.median(len(h.split()) for h in hypotheses)
        results[name] = dict(scores, median_words=words, seconds=round(time.monotonic() - start, 2))
        print(f"{name:<34} {100 * scores['rouge_1']:8.2f} {100 * scores['rouge_2']:8.2f} "
              f"{100 * scores['rouge_L']:8.2f} {words:6.0f}")
    print("JSON " + json.dumps({"source": source, "k": k, "systems": results}))


if __name__ == "__main__":
    main()
