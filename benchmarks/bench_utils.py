"""Helpers the benchmarks share (they run as scripts: ``python benchmarks/<name>.py``)."""

import os


def summary_values(run_dir: str, tag: str, after_step: int = 0):
    """The trainer's ``train/<tag>`` scalar summaries (``steps_per_sec``, ``tokens_per_sec``...)
    of ``run_dir`` written after ``after_step``, in step order."""
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator, TENSORS

    events = EventAccumulator(os.path.join(run_dir, "train"), size_guidance={TENSORS: 0}).Reload()
    return [float(tf.make_ndarray(e.tensor_proto)) for e in events.Tensors(tag) if e.step > after_step]
