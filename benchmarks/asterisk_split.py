"""A stated train/dev split of Asterisk's English prompts (one speaker, 8 kHz, sentence-level
transcripts) for ``speech_from_files``.

    python benchmarks/asterisk_split.py [--asterisk_dir=../shared/data/asterisk_en_allison] \
        [--max_seconds=8] --out_dir=DIR

Split (fixed, stated): recordings longer than ``--max_seconds`` are left out (23 of 553 at
8 s: IVR menus up to 73 s); the rest, sorted by ``id``, go to dev when their position is
9 modulo 10 (53), else to train (477). Writes ``DIR/train.tsv`` and ``DIR/dev.tsv`` as
``path<TAB>transcript`` with absolute paths, and prints the counts and the total audio.
Train with ``--gin_param=SpeechFromFiles.sample_rate=8000`` and, for word-level WER,
``SpeechFromFiles.lowercase=True`` and ``SpeechFromFiles.strip_punctuation=True``.
"""

import argparse
import csv
import os


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--asterisk_dir", default=os.path.join("..", "shared", "data", "asterisk_en_allison"))
    ap.add_argument("--max_seconds", type=float, default=8.0)
    ap.add_argument("--out_dir", required=True)
    args = ap.parse_args()
    folder = os.path.abspath(args.asterisk_dir)
    with open(os.path.join(folder, "transcripts.tsv"), encoding="utf-8", newline="") as f:
        rows = sorted(csv.DictReader(f, delimiter="\t"), key=lambda r: r["id"])
    kept = [r for r in rows if float(r["seconds"]) <= args.max_seconds]
    splits = {"train": [], "dev": []}
    for i, row in enumerate(kept):
        splits["dev" if i % 10 == 9 else "train"].append(row)
    os.makedirs(args.out_dir, exist_ok=True)
    for name, part in splits.items():
        with open(os.path.join(args.out_dir, f"{name}.tsv"), "w", encoding="utf-8") as f:
            for row in part:
                text = " ".join(row["transcript"].split())
                f.write(f"{os.path.join(folder, row['path'])}\t{text}\n")
        seconds = sum(float(r["seconds"]) for r in part)
        print(f"{name}: {len(part)} recordings, {seconds / 60:.1f} min of audio")
    print(f"left out (longer than {args.max_seconds:g} s): {len(rows) - len(kept)}")


if __name__ == "__main__":
    main()
