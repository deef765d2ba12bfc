"""Is a stopped and resumed run under MirroredStrategy the uninterrupted run, bit for bit?

    python benchmarks/mirrored_resume.py --dropout=0.3
    python benchmarks/mirrored_resume.py --dropout=0.0

Two logical CPUs, ``basic_fc_relu``/``basic_fc_tiny`` on tiny MNIST-format data: an
uninterrupted 4-step run against a run stopped at step 2 and resumed to 4 (all under
``--strategy=mirrored``). Prints the max |weight difference| (0.0 would be exact).
"""

import argparse
import os
import sys
import tempfile

import numpy as np
import tensorflow as tf


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dropout", type=float, default=0.3)
    args = parser.parse_args()
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
    import conftest
    from t2x.data.image import IdxImage2ClassProblem, idx_sources
    from t2x.hparam import create_hparams
    from t2x.training.trainer import Trainer

    root = tempfile.mkdtemp(prefix="t2x_mirrored_")
    table, _ = conftest.make_tiny_mnist(root + "/raw")

    class TinyMnist(IdxImage2ClassProblem):
        registered_name = "tiny_mnist_fixture"
        train_shards = 3
        source_files = idx_sources(table, ["http://127.0.0.1:9/"])

    problem = TinyMnist()
    problem.generate_data(root + "/data", root + "/raw")

    def trainer(out, steps):
        hp = create_hparams("basic_fc_tiny", f"dropout={args.dropout},batch_size=8")
        return Trainer(problem=problem, model_name="basic_fc_relu", hparams=hp, hparams_set="basic_fc_tiny",
                       data_dir=root + "/data", output_dir=out, train_steps=steps, strategy="mirrored",
                       save_checkpoints_steps=1000, log_every=2)

    straight = trainer(root + "/straight", 4)
    straight.train()
    trainer(root + "/resumed", 2).train()
    resumed = trainer(root + "/resumed", 4)
    resumed.train()
    diff = max(float(np.max(np.abs(a.numpy() - b.numpy())))
               for a, b in zip(straight.model.weights, resumed.model.weights))
    print(f"replicas {straight.num_replicas}, dropout {args.dropout}: max |resumed - uninterrupted| = {diff}")


if __name__ == "__main__":
    main()
