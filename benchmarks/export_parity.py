"""An image run's exports against its checkpoint, in one process: dev accuracy, file size,
agreement with the checkpoint's predictions, latency per example and examples/s.

    t2x-trainer --problem=image_mnist --model=basic_fc_relu --hparams_set=basic_fc_small \\
        --data_dir=D --tmp_dir=T --output_dir=RUN --train_steps=2000
    t2x-exporter --output_dir=RUN --formats=saved_model,tflite,tflite_dynamic,tflite_int8
    python benchmarks/export_parity.py --output_dir=RUN [--examples=0] [--rounds=3]

The checkpoint is run as the trainer evaluates it (``model.infer`` in a ``tf.function`` on
the pipeline's standardized images); the SavedModel through ``serving_default`` (uint8
images in); the TF Lite files with ``ai_edge_litert``'s interpreter, batch 1, images
uint8. Speed: examples/s over the whole set, rounds alternated between the paths, medians
reported with ratios to the checkpoint (this machine is shared: compare ratios only).
Latency per example: batch-1 calls on 200 images, median.
"""

import argparse
import glob
import os
import statistics
import time

import numpy as np
import tensorflow as tf


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--export_dir", default=None, help="default: the newest RUN/export/<step>")
    parser.add_argument("--examples", type=int, default=0, help="dev examples (0: all)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=100)
    args = parser.parse_args()

    from ai_edge_litert.interpreter import Interpreter

    from t2x.data.problem import Mode
    from t2x.runs.checkpoints import load_trained_model

    export_dir = args.export_dir or max(glob.glob(os.path.join(args.output_dir, "export", "*")),
                                        key=lambda p: int(os.path.basename(p)) if os.path.basename(p).isdigit() else -1)
    model, problem, data_dir, ckpt = load_trained_model(args.output_dir)
    raw = problem.read(Mode.EVAL, data_dir, shuffle_files=False, repeat=False, deterministic=True)
    images, labels = [], []
    for batch in raw.as_numpy_iterator():
        images.append(batch["inputs"])
        labels.append(batch["targets"].reshape(-1))
    images, labels = np.concatenate(images), np.concatenate(labels)
    if args.examples:
        images, labels = images[:args.examples], labels[:args.examples]
    hparams = model.train_hparams

    @tf.function(input_signature=[tf.TensorSpec([None] + list(images.shape[1:]), tf.uint8)])
    def checkpoint_fn(x):
        x = problem.preprocess_example({"inputs": x}, Mode.EVAL, hparams)["inputs"]
        p = model.infer({"inputs": x})["probabilities"]
        return tf.reshape(p, [tf.shape(p)[0], -1])

    saved = tf.saved_model.load(os.path.join(export_dir, "saved_model"))
    serving = saved.signatures["serving_default"]

    def batched(fn):
        def run(x):
            return np.concatenate([fn(x[i:i + args.batch_size]) for i in range(0, len(x), args.batch_size)])
        return run

    paths = {"checkpoint": batched(lambda x: checkpoint_fn(tf.constant(x)).numpy()),
             "saved_model": batched(lambda x: serving(images=tf.constant(x))["probabilities"].numpy())}
    one = {"checkpoint": lambda x: checkpoint_fn(tf.constant(x)).numpy(),
           "saved_model": lambda x: serving(images=tf.constant(x))["probabilities"].numpy()}
    files = {"checkpoint": ckpt + ".data-00000-of-00001", "saved_model": os.path.join(export_dir, "saved_model")}
    for fmt in ("tflite", "tflite_dynamic", "tflite_int8"):
        path = os.path.join(export_dir, f"{fmt}.tflite")
        if not os.path.exists(path):
            continue
        interpreter = Interpreter(model_path=path)
        runner = interpreter.get_signature_runner("predict_probabilities")

        def lite(x, runner=runner):
            return np.concatenate([runner(images=x[i:i + 1])["probabilities"] for i in range(len(x))])
        paths[fmt], one[fmt], files[fmt] = lite, lite, path

    from t2x.export.exporter import size_bytes as size

    probs = {name: fn(images) for name, fn in paths.items()}  # also the warm-up
    rates = {name: [] for name in paths}
    for _ in range(args.rounds):
        for name, fn in paths.items():
            start = time.perf_counter()
            fn(images)
            rates[name].append(len(images) / (time.perf_counter() - start))
    latency = {}
    for name, fn in one.items():
        times = []
        for i in range(min(200, len(images))):
            start = time.perf_counter()
            fn(images[i:i + 1])
            times.append(time.perf_counter() - start)
        latency[name] = statistics.median(times)

    reference = probs["checkpoint"].argmax(-1)
    base_rate = statistics.median(rates["checkpoint"])
    print(f"{len(images)} dev images, checkpoint {ckpt}, export {export_dir}")
    print("| format | dev accuracy | size (MB) | size / float | same class as checkpoint | max abs prob diff "
          "| latency/example (ms, batch 1) | examples/s ratio to checkpoint |")
    print("|---|---|---|---|---|---|---|---|")
    float_size = size(files.get("tflite", files["saved_model"]))
    for name, p in probs.items():
        accuracy = float(np.mean(p.argmax(-1) == labels))
        same = int(np.sum(p.argmax(-1) == reference))
        diff = float(np.max(np.abs(p - probs["checkpoint"])))
        label = "checkpoint (weights + optimizer slots)" if name == "checkpoint" else name
        print(f"| {label} | {100 * accuracy:.2f} % | {size(files[name]) / 1e6:.3f} | "
              f"{size(files[name]) / float_size:.2f} | {same}/{len(images)} | {diff:.2e} | "
              f"{1e3 * latency[name]:.3f} | {statistics.median(rates[name]) / base_rate:.2f}x |")


if __name__ == "__main__":
    main()
