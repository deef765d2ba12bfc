"""The trainer's options and their defaults: the one place they are written.

Three small groups, by role: the outer loop (``LoopOptions``), evaluation
(``EvalOptions``) and model selection (``SelectionOptions``). ``Trainer``'s keyword
arguments (which gin binds: ``Trainer.log_every = 10``), ``t2x-trainer``'s flags and
``t2x-tuner``'s take their defaults from ``LOOP``, ``EVAL`` and ``SELECTION`` below; a
default changed here changes everywhere. (The tuner evaluates more often than a plain run,
``TUNER_EVAL_EVERY``: its pruner decides on those evaluations.)
"""

import dataclasses
from typing import Optional

from t2x.data.specs import DEFAULT_RANDOM_SEED


@dataclasses.dataclass(frozen=True)
class LoopOptions:
    """The outer loop: how long, how often to checkpoint and log, where it runs."""
    train_steps: int = 1000
    eval_every: int = 1000
    save_checkpoints_steps: int = 1000
    keep_checkpoint_max: int = 5
    log_every: int = 100
    strategy: str = "default"
    random_seed: int = DEFAULT_RANDOM_SEED
    xla: bool = False
    allow_config_change: bool = False
    num_summary_images: int = 4


@dataclasses.dataclass(frozen=True)
class EvalOptions:
    """Evaluation: batches, batch size, and the decodes behind decode-based metrics."""
    eval_steps: int = 100
    eval_batch_size: Optional[int] = None
    eval_decode_split: Optional[str] = None
    eval_decode_examples: int = 0
    decode_hparams: str = ""
    bleu_tokenize: str = "13a"


@dataclasses.dataclass(frozen=True)
class SelectionOptions:
    """Model selection after each evaluation (``t2x.training.selection``)."""
    early_stopping_metric: Optional[str] = None
    early_stopping_patience: int = 0
    keep_best_checkpoint: bool = False


LOOP, EVAL, SELECTION = LoopOptions(), EvalOptions(), SelectionOptions()
TUNER_EVAL_EVERY = 200  # trials report to the pruner every 200 steps (a plain run: LOOP.eval_every)
BLEU_TOKENIZERS = ("13a", "intl", "none", "char", "zh")  # sacreBLEU's, for the flags
