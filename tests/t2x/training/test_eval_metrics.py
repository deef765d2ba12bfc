"""Evaluation reports what the problem's eval_metrics() (and the model's) ask for; decode
metrics are computed on the decodes the trainer writes, with the libraries' own numbers."""

import numpy as np
import pytest
from rouge_score import rouge_scorer

from t2x import registry
from t2x.data.problem import DatasetSplit, Mode, SplitSpec
from t2x.data.text_problems import Text2TextProblem
from t2x.hparam import create_hparams
from t2x.models.basic import BasicFcRelu
from t2x.training.trainer import Trainer

WORDS = ["cat", "dog", "sun", "sea", "red", "big"]


class TinyCopyWords(Text2TextProblem):
    """Three-word sentences copied; character vocabulary; ROUGE on the decodes."""
    registered_name = "tiny_copy_words"
    vocab_type = "character"

    @property
    def dataset_splits(self):
        return [SplitSpec(DatasetSplit.TRAIN, 1), SplitSpec(DatasetSplit.EVAL, 1)]

    def generate_samples(self, data_dir, tmp_dir, dataset_split, seed=0):
        rng = np.random.RandomState(seed + (dataset_split == DatasetSplit.EVAL))
        for _ in range(400 if dataset_split == DatasetSplit.TRAIN else 12):
            sentence = " ".join(rng.choice(WORDS, 3))
            yield {"inputs": sentence, "targets": sentence}

    def eval_metrics(self):
        return ["rouge_2", "rouge_L"]


def test_rouge_from_the_decodes_equals_rouge_scores_numbers(tmp_path):
    problem = TinyCopyWords()
    data_dir = str(tmp_path / "data")
    problem.generate_data(data_dir, str(tmp_path / "tmp"), random_seed=3)
    hp = create_hparams("transformer_test", "batch_size=512,hidden_size=32,filter_size=64,"
                        "layer_prepostprocess_dropout=0.0,label_smoothing=0.0,"
                        "learning_rate_schedule=constant*linear_warmup,learning_rate_constant=0.005,"
                        "learning_rate_warmup_steps=20")
    trainer = Trainer(problem=problem, model_name="transformer", hparams=hp, hparams_set="transformer_test",
                      data_dir=data_dir, output_dir=str(tmp_path / "out"), train_steps=150,
                      eval_steps=0, eval_every=1000, log_every=50, decode_hparams="extra_length=4")
    metrics = trainer.run("train_and_evaluate")
    assert set(metrics) == {"loss", "rouge_2", "rouge_L", "eval_batches"}
    decodes = (tmp_path / "out" / "decodes" / "dev-150.txt").read_text().splitlines()
    encoder = problem.get_feature_encoders(data_dir)["targets"]
    references = [encoder.decode([i for i in ex["targets"] if i > 1])
                  for ex in problem.dataset(Mode.EVAL, data_dir, deterministic=True).as_numpy_iterator()]
    assert len(decodes) == len(references) == 12
    scorer = rouge_scorer.RougeScorer(["rouge2", "rougeL"])
    scores = [scorer.score(r, h) for h, r in zip(decodes, references)]
    assert metrics["rouge_2"] == pytest.approx(np.mean([s["rouge2"].fmeasure for s in scores]))
    assert metrics["rouge_L"] == pytest.approx(np.mean([s["rougeL"].fmeasure for s in scores]))
    assert metrics["rouge_L"] > 0.3  # it learned to copy some of it: the numbers are not all zeros


class AccuracyOnlyDigits:
    """Mixed into the tiny IDX problem of conftest: accuracy only."""

    def eval_metrics(self):
        return ["accuracy"]


class FcWithPerplexity(BasicFcRelu):
    def eval_metrics(self):
        return ["perplexity"]


def test_the_problem_chooses_and_a_model_may_add(tiny_problem_cls, tiny_mnist, tmp_path):
    tmp_dir, _, _ = tiny_mnist
    problem = type("AccuracyOnly", (AccuracyOnlyDigits, tiny_problem_cls), {"registered_name": "acc_only"})()
    data_dir = str(tmp_path / "data")
    problem.generate_data(data_dir, tmp_dir)
    registry.models.register("fc_with_perplexity")(FcWithPerplexity)
    try:
        hp = create_hparams("basic_fc_tiny")
        common = dict(problem=problem, hparams=hp, hparams_set="basic_fc_tiny", data_dir=data_dir,
                      train_steps=2, eval_steps=1)
        only = Trainer(model_name="basic_fc_relu", output_dir=str(tmp_path / "a"), **common).run("train_and_evaluate")
        added = Trainer(model_name="fc_with_perplexity", output_dir=str(tmp_path / "b"), **common).run(
            "train_and_evaluate")
    finally:
        registry.models.unregister("fc_with_perplexity")
    assert set(only) == {"loss", "accuracy", "eval_batches"}
    assert set(added) == {"loss", "accuracy", "perplexity", "eval_batches"}
    assert added["perplexity"] == pytest.approx(np.exp(added["loss"]), rel=1e-5)
