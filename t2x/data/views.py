"""Views of a problem's evaluation data: what ``Problem.eval_problems()`` returns to have a
dev split reported in parts (bAbI per task, Mathematics per module, algorithmic problems per
length bucket).

A ``ProblemView`` *is* its parent problem (the same files, features, encoders, problem
hparams, reading spec, preprocessing and metrics) with a different reading half: it reads

* another split the parent writes (``dataset_split``: e.g. bAbI's ``dev_task3``, a split
  written at datagen with one task's test stories), and/or
* only the examples a predicate keeps (``keep``: e.g. inputs of 41..100 symbols),

so that the evaluator runs a view exactly as it runs any problem:

    views = {"": problem,
             "task_3": ProblemView(problem, "task_3", dataset_split="dev_task3"),
             "length_41-100": ProblemView(problem, "length_41-100",
                                          keep=lambda batch: length_between(batch, 41, 100))}
    for name, p in views.items():
        ds = p.dataset(Mode.EVAL, data_dir, hparams, batch_size=...)   # eval/<name>/<metric>

Written splits are the fast way (each view reads only its own examples: use them when a split
has many parts, such as the 71 modules of Mathematics); a predicate needs no new data (the
dev shards already written serve every bucket) but reads the whole split once per view.

A view generates nothing of its own: ``generate_data`` is the parent's. Floor 2 (data).
"""

from typing import Any, Callable, Dict, Optional

from t2x.data.problem import DatasetSplit, Mode, Problem


def length_between(batch: Dict[str, Any], low: int, high: int, feature: str = "inputs",
                   offset: int = 1):
    """A ``keep`` predicate's body: bool ``[b]``, True where ``feature``'s length minus
    ``offset`` (the EOS id stored at the end: 1) lies in ``[low, high]``. ``batch`` is a
    parse batch (variable-length features ragged, ``[b, None]``). Inside ``tf.data``."""
    import tensorflow as tf

    values = batch[feature]
    lengths = values.row_lengths() if isinstance(values, tf.RaggedTensor) else \
        tf.fill(tf.shape(values)[:1], tf.shape(values)[1])
    lengths = tf.cast(lengths, tf.int64) - offset
    return tf.logical_and(lengths >= low, lengths <= high)


class ProblemView(Problem):
    """``parent`` read through ``dataset_split`` and/or ``keep`` (see the module docstring).

    parent: the problem viewed (a registered problem instance, ``_rev``/``_copy`` included).
    view_name: the name evaluation reports it under (``eval/<view_name>/<metric>``).
    dataset_split: the split read where the parent would read dev (``None``: dev); any
      split asked for explicitly is read as asked (and filtered by ``keep``).
    keep: ``parse batch -> bool [b]``, run inside ``tf.data`` on the parent's parse batches
      (leading batch dim, variable-length features ragged, before ``preprocess_example``);
      None keeps every example.
    """

    def __init__(self, parent: Problem, view_name: str, *, dataset_split: Optional[str] = None,
                 keep: Optional[Callable[[Dict[str, Any]], Any]] = None):
        super().__init__(was_reversed=parent.was_reversed, was_copy=parent.was_copy)
        self.parent = parent
        self.view_name = view_name
        self.view_split = dataset_split or DatasetSplit.EVAL
        self.keep = keep
        self.variable_length = parent.variable_length
        self.batch_preprocess = parent.batch_preprocess
        self.augment_in_training = parent.augment_in_training

    # -- the parent's identity -----------------------------------------------------
    @property
    def name(self) -> str:
        return self.parent.name

    @property
    def full_name(self) -> str:
        """``<parent>/<view>``: how messages name the view."""
        return f"{self.parent.full_name}/{self.view_name}"

    def dataset_filename(self) -> str:
        return self.parent.dataset_filename()

    @property
    def dataset_splits(self):
        return self.parent.dataset_splits

    def generate_data(self, *args, **kwargs):
        """The parent's data (a view writes nothing of its own)."""
        return self.parent.generate_data(*args, **kwargs)

    def feature_encoders(self, data_dir):
        return self.parent.feature_encoders(data_dir)

    def hparams(self, defaults, model_hparams):
        self.parent.hparams(defaults, model_hparams)

    def example_reading_spec(self):
        return self.parent.example_reading_spec()

    def decode_example(self, parsed):
        return self.parent.decode_example(parsed)

    def preprocess_example(self, example, mode, hparams):
        return self.parent.preprocess_example(example, mode, hparams)

    def augment_example(self, example, seed):
        return self.parent.augment_example(example, seed)

    def packed_length(self, hparams):
        return self.parent.packed_length(hparams)

    def eval_metrics(self):
        return self.parent.eval_metrics()

    # -- the reading half ------------------------------------------------------------
    def read(self, mode: str, data_dir: str, *, dataset_split: Optional[str] = None, **kwargs):
        """The parent's reading half on the view's split (where dev would be read), the
        parse batches filtered by ``keep`` (a batch may come out smaller, or empty)."""
        if dataset_split is None and mode != Mode.TRAIN or dataset_split == DatasetSplit.EVAL:
            dataset_split = self.view_split
        ds = self.parent.read(mode, data_dir, dataset_split=dataset_split, **kwargs)
        if self.keep is None:
            return ds
        import tensorflow as tf

        keep = self.keep

        def select(batch):
            mask = keep(batch)
            return {k: tf.ragged.boolean_mask(v, mask) if isinstance(v, tf.RaggedTensor)
                    else tf.boolean_mask(v, mask) for k, v in batch.items()}

        return ds.map(select, num_parallel_calls=tf.data.AUTOTUNE,
                      deterministic=kwargs.get("deterministic", False))
