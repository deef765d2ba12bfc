"""The evaluator: a problem's eval_problems reported apart under eval/<name>/, its
summarize_eval metrics and its eval_report table written to the run."""

import os

import pytest
import tensorflow as tf

from t2x import registry
from t2x.hparam import create_hparams
from t2x.problems.algorithmic import TinyAlgo
from t2x.training.trainer import Trainer


class TinyAlgoWithReport(TinyAlgo):
    """tiny_algo's length buckets, plus a summary and a report of them."""

    def dataset_filename(self):
        return "tiny_algo"

    def summarize_eval(self, results):
        buckets = [v["accuracy_per_sequence"] for k, v in results.items() if k.startswith("length_")]
        return {"buckets": float(len(buckets)), "worst_bucket": min(buckets)}

    def eval_report(self, results):
        return "\n".join(f"{k} {v['accuracy']:.4f}" for k, v in sorted(results.items()) if k) + "\n"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    data = str(tmp_path_factory.mktemp("algo"))
    registry.problem("tiny_algo").generate_data(data, data + "/tmp")
    return data


def test_views_are_reported_apart_with_a_summary_and_a_report(data_dir, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import TENSORS, EventAccumulator

    trainer = Trainer(problem=TinyAlgoWithReport(), model_name="transformer",
                      hparams=create_hparams("transformer_test"), hparams_set="transformer_test",
                      data_dir=data_dir, output_dir=str(tmp_path / "run"), train_steps=2, eval_steps=0,
                      eval_every=1000, save_checkpoints_steps=1000, log_every=1000)
    trainer.train()
    metrics = trainer.evaluate()
    names = ["length_1-40", "length_41-100", "length_101-400"]
    assert [n for n in names if f"{n}/accuracy" in metrics] == names
    assert metrics["buckets"] == 3.0
    assert metrics["worst_bucket"] == min(metrics[f"{n}/accuracy_per_sequence"] for n in names)
    report = (tmp_path / "run" / "eval" / "report-2.txt").read_text().splitlines()
    assert [line.split()[0] for line in report] == sorted(names)
    assert float(report[0].split()[1]) == pytest.approx(metrics[f"{sorted(names)[0]}/accuracy"], abs=1e-4)
    events = EventAccumulator(str(tmp_path / "run" / "eval"), size_guidance={TENSORS: 0})
    events.Reload()
    for tag in ("accuracy", "worst_bucket", "length_41-100/accuracy", "length_101-400/loss"):
        assert float(tf.make_ndarray(events.Tensors(tag)[-1].tensor_proto)) == pytest.approx(metrics[tag])
    assert os.listdir(tmp_path / "run" / "eval")
