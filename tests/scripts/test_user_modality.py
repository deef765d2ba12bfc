"""A user's own modality from a --t2x_usr_dir, with no edit to t2x/: a problem of unit
vectors (its own bottom) trains, evaluates, and exports a SavedModel that classifies in a
TensorFlow-only process exactly as the run evaluated."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

from conftest import REPO_ROOT

USR_CODE = textwrap.dedent('''
    import keras
    import numpy as np
    import tensorflow as tf
    from t2x import registry
    from t2x.data.problem import DatasetSplit, Problem, SplitSpec
    from t2x.modalities import Modality, register_modality

    DIM = 8


    @register_modality("unit_vector")
    class UnitVectorModality(Modality):
        """A real vector, scaled to unit length, then a dense layer: the direction is the feature."""

        def __init__(self, model_hparams, vocab_size, feature_name, **kwargs):
            super().__init__(model_hparams, vocab_size, feature_name, **kwargs)
            self.dense = keras.layers.Dense(model_hparams.hidden_size, name="unit_vector_bottom")

        def bottom(self, x):
            return self.dense(tf.math.l2_normalize(tf.cast(x, self.compute_dtype), axis=-1))


    @registry.register_problem
    class DirectionOfVectors(Problem):
        """Class 1 when a random 8-d vector points into the positive half of its first axis."""

        @property
        def dataset_splits(self):
            return [SplitSpec(DatasetSplit.TRAIN, 2), SplitSpec(DatasetSplit.EVAL, 1)]

        def generate_samples(self, data_dir, tmp_dir, dataset_split, seed=0):
            rng = np.random.RandomState(1 if dataset_split == DatasetSplit.TRAIN else 2)
            for _ in range(800 if dataset_split == DatasetSplit.TRAIN else 200):
                x = rng.normal(size=DIM) * np.array([1.0] + [3.0] * (DIM - 1))
                yield {"inputs": [float(v) for v in x], "targets": [int(x[0] > 0)]}

        def example_reading_spec(self):
            return {"inputs": tf.io.FixedLenFeature([DIM], tf.float32),
                    "targets": tf.io.FixedLenFeature([1], tf.int64)}

        def hparams(self, defaults, model_hparams):
            defaults.modality = {"inputs": "unit_vector", "targets": "class_label"}
            defaults.vocab_size = {"inputs": None, "targets": 2}

        def eval_metrics(self):
            return ["accuracy"]
''')

SERVE = """
import json, sys
import numpy as np, tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
x = np.array(json.loads(sys.argv[2]), np.float32)
out = loaded.signatures["serving_default"](inputs=tf.constant(x))
print(json.dumps({"classes": out["classes"].numpy().tolist(),
                  "modules": sorted(m for m in sys.modules if m.startswith("t2x"))}))
"""


def test_a_user_modality_trains_evaluates_classifies_and_exports(tmp_path):
    usr = tmp_path / "usr"
    usr.mkdir()
    (usr / "__init__.py").write_text(USR_CODE)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", T2X_OFFLINE="1")
    run = tmp_path / "run"
    common = [f"--t2x_usr_dir={usr}", f"--output_dir={run}"]
    trained = subprocess.run(
        [sys.executable, "-m", "t2x.scripts.t2x_trainer", *common, "--problem=direction_of_vectors",
         "--model=basic_fc_relu", "--hparams_set=basic_fc_small", "--hparams=batch_size=32,hidden_size=32,learning_rate=5.0",
         f"--data_dir={tmp_path / 'data'}", "--train_steps=400", "--eval_every=400", "--eval_steps=0"],
        capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=300)
    assert trained.returncode == 0, trained.stderr[-3000:]
    accuracy = float(trained.stderr.split("accuracy ")[-1].split()[0].rstrip(","))
    assert accuracy > 0.85, trained.stderr[-1000:]
    exported = subprocess.run([sys.executable, "-m", "t2x.scripts.t2x_exporter", *common,
                               f"--export_dir={tmp_path / 'export'}"],
                              capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=300)
    assert exported.returncode == 0, exported.stderr[-3000:]
    info = json.loads((tmp_path / "export" / "export.json").read_text())
    assert info["kind"] == "classifier" and info["inputs"]["modality"] == "unit_vector"
    # The dev set, classified by the SavedModel in a process without t2x: the run's accuracy.
    rng = np.random.RandomState(2)
    dev = [rng.normal(size=8) * np.array([1.0] + [3.0] * 7) for _ in range(200)]
    served = subprocess.run([sys.executable, "-c", SERVE, str(tmp_path / "export" / "saved_model"),
                             json.dumps([x.tolist() for x in dev])],
                            capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300)
    assert served.returncode == 0, served.stderr[-3000:]
    result = json.loads(served.stdout.strip().splitlines()[-1])
    assert result["modules"] == []
    labels = [int(x[0] > 0) for x in dev]
    served_accuracy = np.mean(np.array(result["classes"]) == np.array(labels))
    assert abs(served_accuracy - accuracy) < 1e-6, (served_accuracy, accuracy)
