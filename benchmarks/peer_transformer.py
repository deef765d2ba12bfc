"""t2x's ``transformer_small`` training step against peers, side by side on this CPU.

    pip install torch==2.13.0          # the CPU build; not a t2x dependency
    python benchmarks/peer_transformer.py --multi30k_dir=../shared/data/multi30k \
        --data_dir=/tmp/t2x_peer_data [--steps=40] [--warmup_steps=10] [--rounds=3]

Three arms train the same architecture on the **same batches** (Multi30k En-De, t2x's
subword vocabulary, ``transformer_small``'s 4096-token length-bucketed batches, taken once
from ``problem.dataset`` and saved), each in a fresh process, alternating round by round:

* ``t2x``: t2x's compiled train step (``Trainer.steps.train_step``: the model, label-smoothed loss,
  weight decay, clipping if set, Adam with T2T's schedule) fed the saved batches;
* ``keras_fit``: the same t2x model under ``model.compile`` + ``model.fit`` (Keras's own
  loop; loss = the t2x loss of the batch, same Adam), fed the same batches;
* ``torch``: PyTorch ``nn.Transformer`` with the same dimensions (2+2 layers, d_model 256,
  4 heads, feed-forward 1024, pre-norm, dropout 0.1), shared input/output embedding scaled by
  sqrt(d_model), sinusoidal positions, label smoothing 0.1, padding ignored, Adam
  (0.9, 0.997, 1e-9), on 2 threads.

The rate is real target tokens (padding excluded) per second over the steps after
``--warmup_steps`` (tracing and warm-up excluded). Prints each round, ratios to t2x with
their spread, then one JSON line.
"""

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ARMS = ("t2x", "keras_fit", "torch")
HPARAMS_SET = "transformer_small"


def save_batches(multi30k_dir, data_dir, path, count):
    import numpy as np

    from t2x import registry
    from t2x.data.problem import Mode
    from t2x.hparam import create_hparams

    problem = registry.problem("translate_ende_multi30k")
    work = tempfile.mkdtemp()
    try:
        raw = os.path.join(work, "raw")
        shutil.copytree(multi30k_dir, raw)
        problem.generate_data(data_dir, raw)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    hp = create_hparams(HPARAMS_SET, "max_length=100")
    ds = problem.dataset(Mode.TRAIN, data_dir, hp, batch_size=hp.batch_size, seed=1, deterministic=True)
    arrays = {}
    for i, batch in enumerate(ds.take(count)):
        arrays[f"inputs_{i}"] = batch["inputs"].numpy()
        arrays[f"targets_{i}"] = batch["targets"].numpy()
    vocab = problem.get_hparams(hp, data_dir=data_dir).vocab_size["targets"]
    np.savez(path, vocab=vocab, **arrays)


def load_batches(path):
    import numpy as np

    data = np.load(path)
    n = len([k for k in data.files if k.startswith("inputs_")])
    return int(data["vocab"]), [(data[f"inputs_{i}"], data[f"targets_{i}"]) for i in range(n)]


def tokens(targets):
    return int((targets != 0).sum())


def run_t2x(batches_path, data_dir, steps, warmup, fit):
    import keras
    import tensorflow as tf

    from t2x import registry
    from t2x.hparam import create_hparams
    from t2x.training.trainer import Trainer

    vocab, batches = load_batches(batches_path)
    batches = [batches[i % len(batches)] for i in range(steps)]
    hp = create_hparams(HPARAMS_SET, "max_length=100")
    out = tempfile.mkdtemp()
    trainer = Trainer(problem=registry.problem("translate_ende_multi30k"), model_name="transformer",
                      hparams=hp, hparams_set=HPARAMS_SET, data_dir=data_dir, output_dir=out,
                      train_steps=steps)
    trainer._build()
    assert trainer.model.problem_hparams.vocab_size["targets"] == vocab
    spec = {"inputs": tf.TensorSpec([None, None], tf.int64), "targets": tf.TensorSpec([None, None], tf.int64)}
    ds = tf.data.Dataset.from_generator(lambda: ({"inputs": i, "targets": t} for i, t in batches),
                                        output_signature=spec)
    times = []
    if not fit:
        iterator = iter(ds)
        for _ in batches:
            start = time.perf_counter()
            trainer.steps.train_step(iterator)["loss"].numpy()
            times.append(time.perf_counter() - start)
    else:
        model = trainer.model

        def loss(y_true, y_pred):
            num, den = model.loss_fn(y_pred, {"targets": y_true}, training=True)
            return num / tf.maximum(den, 1.0)

        model.compile(optimizer=trainer.optimizer, loss=loss)

        class Timer(keras.callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                self.start = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                times.append(time.perf_counter() - self.start)

        model.fit(ds.map(lambda f: (f, f["targets"])), epochs=1, steps_per_epoch=steps, verbose=0,
                  callbacks=[Timer()])
    shutil.rmtree(out, ignore_errors=True)
    timed = range(warmup, steps)
    return sum(tokens(batches[i][1]) for i in timed) / sum(times[i] for i in timed)


def run_torch(batches_path, steps, warmup):
    import torch
    from torch import nn

    torch.set_num_threads(2)
    torch.manual_seed(0)
    vocab, batches = load_batches(batches_path)
    batches = [batches[i % len(batches)] for i in range(steps)]
    d = 256

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocab, d, padding_idx=0)
            nn.init.normal_(self.embedding.weight, std=d ** -0.5)
            self.transformer = nn.Transformer(d_model=d, nhead=4, num_encoder_layers=2, num_decoder_layers=2,
                                              dim_feedforward=1024, dropout=0.1, batch_first=True,
                                              norm_first=True)
            self.dropout = nn.Dropout(0.1)

        def positions(self, length):
            pos = torch.arange(length, dtype=torch.float32)[:, None]
            inv = torch.exp(torch.arange(d // 2, dtype=torch.float32) * -(math.log(1e4) / (d // 2 - 1)))
            return torch.cat([torch.sin(pos * inv), torch.cos(pos * inv)], dim=1)

        def embed(self, ids):
            return self.dropout(self.embedding(ids) * d ** 0.5 + self.positions(ids.shape[1]))

        def forward(self, inputs, targets):
            shifted = torch.nn.functional.pad(targets, (1, 0))[:, :-1]
            causal = nn.Transformer.generate_square_subsequent_mask(targets.shape[1])
            out = self.transformer(self.embed(inputs), self.embed(shifted), tgt_mask=causal,
                                   src_key_padding_mask=inputs == 0, memory_key_padding_mask=inputs == 0,
                                   tgt_is_causal=True)
            return out @ self.embedding.weight.T  # tied softmax weights

    model = Model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.997), eps=1e-9)
    criterion = nn.CrossEntropyLoss(ignore_index=0, label_smoothing=0.1)
    times = []
    for inputs, targets in batches:
        start = time.perf_counter()
        inputs, targets = torch.from_numpy(inputs), torch.from_numpy(targets)
        logits = model(inputs, targets)
        loss = criterion(logits.reshape(-1, vocab), targets.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss.item()
        times.append(time.perf_counter() - start)
    timed = range(warmup, steps)
    return sum(tokens(batches[i][1]) for i in timed) / sum(times[i] for i in timed)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--multi30k_dir")
    parser.add_argument("--data_dir", required=True)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup_steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--arm", choices=ARMS, help="internal: run one arm, print its rate")
    parser.add_argument("--batches", help="internal: the saved batches")
    args = parser.parse_args()
    if args.arm:
        if args.arm == "torch":
            rate = run_torch(args.batches, args.steps, args.warmup_steps)
        else:
            rate = run_t2x(args.batches, args.data_dir, args.steps, args.warmup_steps, args.arm == "keras_fit")
        print(f"RATE {rate}")
        return
    work = tempfile.mkdtemp(prefix="t2x_peer_bench_")
    batches = os.path.join(work, "batches.npz")
    save_batches(args.multi30k_dir, args.data_dir, batches, args.steps)
    rates = {arm: [] for arm in ARMS}
    try:
        for r in range(args.rounds):
            for arm in ARMS:
                result = subprocess.run(
                    [sys.executable, __file__, f"--arm={arm}", f"--batches={batches}", f"--data_dir={args.data_dir}",
                     f"--steps={args.steps}", f"--warmup_steps={args.warmup_steps}"],
                    capture_output=True, text=True, check=False)
                lines = [l for l in result.stdout.splitlines() if l.startswith("RATE ")]
                if result.returncode or not lines:
                    raise SystemExit(f"arm {arm} failed:\n{result.stderr[-3000:]}")
                rates[arm].append(float(lines[-1].split()[1]))
            print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{a} {rates[a][-1]:.0f}" for a in ARMS)
                  + " target tokens/s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = {}
    for arm in ARMS:
        ratios = [a / b for a, b in zip(rates[arm], rates["t2x"])]
        summary[arm] = {"median_ratio_to_t2x": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}
    print("ratio to t2x (median, [min, max] over rounds): " + ", ".join(
        f"{a} {s['median_ratio_to_t2x']:.2f}x [{s['min']:.2f}, {s['max']:.2f}]" for a, s in summary.items()))
    print("JSON " + json.dumps({"benchmark": "peer_transformer", "hparams_set": HPARAMS_SET, "steps": args.steps,
                                "rates": rates, "summary": summary}))


if __name__ == "__main__":
    main()
