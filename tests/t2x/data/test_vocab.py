"""Vocabularies at scale: byte budgets, evenly spread samples, the record in data_dir."""

import json
import os

from t2x.data import vocab
from t2x.data.problem import SplitSpec
from t2x.data.text_problems import Text2TextProblem


def numbered_file(path, n):
    """Lines ``line 00000 ...`` .. ``line <n-1> ...``, 40 bytes each."""
    with open(path, "w") as f:
        for i in range(n):
            f.write(f"line {i:05d} " + "w" * 28 + "\n")
    return str(path)


def line_numbers(texts):
    return [int(t.split()[1]) for t in texts]


def test_spread_lines_reads_the_budget_in_runs_spread_over_the_whole_file(tmp_path):
    path = numbered_file(tmp_path / "big.txt", 50_000)  # 2,000,000 bytes
    stats = {}
    numbers = line_numbers(vocab.spread_lines(path, 20_000, stats))
    assert 20_000 - 40 <= stats["bytes"] <= 20_000  # the budget, within a line
    assert stats["lines"] == len(numbers) and stats["size_bytes"] == 2_000_000
    assert stats["method"] == "spread: 78 evenly spaced runs of lines"
    assert min(numbers) < 50 and max(numbers) > 49_000  # from the head to the tail...
    assert sorted(numbers) == numbers and len(set(numbers)) == len(numbers)  # ...in order, once each
    runs = sum(1 for a, b in zip(numbers, numbers[1:]) if b != a + 1) + 1
    assert runs == 78
    small = {}
    assert len(list(vocab.spread_lines(numbered_file(tmp_path / "s.txt", 10), 20_000, small))) == 10
    assert (small["method"], small["bytes"]) == ("all", 10 * 39)  # stripped


def test_spread_sample_keeps_evenly_spaced_items_within_the_budget():
    items = ([f"in{i:04d}", f"out{i:04d}"] for i in range(10_000))  # 15 bytes an item
    stats = {}
    texts = list(vocab.spread_sample(items, 1_000, stats))
    kept = [int(t[2:]) for t in texts[0::2]]
    assert texts[1::2] == [f"out{i:04d}" for i in kept]  # a sample's texts stay together
    assert stats["method"] == "spread: every 256th item" and kept == list(range(0, 10_000, 256))
    assert 500 < stats["bytes"] <= 1_000 and stats["items"] == 10_000
    everything = {}
    assert len(list(vocab.spread_sample(([" a "], ["b"], [""]), 0, everything))) == 2
    assert everything == {"method": "all", "items": 3, "lines": 2, "bytes": 2}


class BigCorpus(Text2TextProblem):
    """Train texts from two files, as *_from_files problems: 60,000 lines each."""
    registered_name = "big_corpus_vocab_test"
    approx_vocab_size = 200
    file_byte_budget = 30_000
    max_subtoken_length = 4
    files = ()
    dataset_splits = property(lambda self: [SplitSpec("train", 1), SplitSpec("dev", 1)])

    def vocab_source_files(self, data_dir, tmp_dir):
        return list(self.files)

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        raise AssertionError("the vocabulary must read the files with seeks, not the samples")


def test_subword_vocab_reads_the_budget_of_each_file_and_records_how(tmp_path):
    problem = BigCorpus()
    problem.files = [numbered_file(tmp_path / "a.txt", 60_000), numbered_file(tmp_path / "b.txt", 60_000)]
    data = tmp_path / "data"
    data.mkdir()
    problem.prepare_data(str(data), str(tmp_path))
    path = data / problem.vocab_filename
    record = json.loads((data / (problem.vocab_filename + ".json")).read_text())
    assert [s["source"] for s in record["sources"]] == problem.files
    assert all(30_000 - 40 <= s["bytes"] <= 30_000 for s in record["sources"])  # of 2.4 MB each
    assert record["bytes"] == sum(s["bytes"] for s in record["sources"])
    assert record["lines"] == sum(s["lines"] for s in record["sources"]) > 1_000
    assert (record["file_byte_budget"], record["max_subtoken_length"], record["vocab_type"]) == (30_000, 4, "subword")
    assert record["seconds"] > 0 and record["vocab_size"] == vocab.load("subword", str(path)).vocab_size
    assert max(len(s) for s in vocab.load("subword", str(path)).all_subtoken_strings[2:]) <= 4


def test_without_files_the_budget_samples_the_train_samples(tmp_path):
    class FromSamples(Text2TextProblem):
        registered_name = "from_samples_vocab_test"
        approx_vocab_size = 100
        file_byte_budget = 2_000
        dataset_splits = property(lambda self: [SplitSpec("train", 1), SplitSpec("dev", 1)])

        def generate_samples(self, data_dir, tmp_dir, dataset_split):
            for i in range(5_000):
                yield {"inputs": f"source {i}", "targets": f"target {i}"}

    problem = FromSamples()
    problem.prepare_data(str(tmp_path), str(tmp_path))
    record = json.loads(open(os.path.join(tmp_path, problem.vocab_filename + ".json")).read())
    (source,) = record["sources"]
    assert source["source"] == "train samples" and source["items"] == 5_000
    assert source["method"].startswith("spread: every ") and 1_000 < source["bytes"] <= 2_000
