"""A sentence-classification set from BBC News Summary: each article's lead sentence (the
first sentence of its body) labelled with its category, as ``label<TAB>text`` files for
``text_classification_from_files``.

    python benchmarks/bbc_sentences.py [--bbc_dir=../shared/data/bbc_news_summary] --out_dir=DIR

Split (fixed, stated): articles whose number ``NNN`` is divisible by 5 are dev (444), the
rest train (1,781). Titles (first line) are left out. ``sport/199.txt`` is Latin-1, the rest
UTF-8. Writes ``DIR/train.tsv`` and ``DIR/dev.tsv`` and prints the counts per category.
"""

import argparse
import collections
import os
import re

CATEGORIES = ("business", "entertainment", "politics", "sport", "tech")


def lead_sentence(path: str) -> str:
    raw = open(path, "rb").read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    body = [line.strip() for line in text.splitlines()[1:] if line.strip()]
    first = body[0] if body else ""
    match = re.match(r"(.+?[.!?])(\s|$)", first)
    return " ".join((match.group(1) if match else first).split())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bbc_dir", default=os.path.join("..", "shared", "data", "bbc_news_summary"))
    ap.add_argument("--out_dir", required=True)
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    rows = {"train": [], "dev": []}
    counts = collections.Counter()
    for category in CATEGORIES:
        folder = os.path.join(args.bbc_dir, "News Articles", category)
        for name in sorted(os.listdir(folder)):
            split = "dev" if int(name.split(".")[0]) % 5 == 0 else "train"
            sentence = lead_sentence(os.path.join(folder, name))
            if sentence:
                rows[split].append(f"{category}\t{sentence}\n")
                counts[split, category] += 1
    for split, lines in rows.items():
        with open(os.path.join(args.out_dir, f"{split}.tsv"), "w", encoding="utf-8") as f:
            f.writelines(lines)
        print(split, len(lines), {c: counts[split, c] for c in CATEGORIES})


if __name__ == "__main__":
    main()
