"""t2x's ``shake_shake``/``shake_shake_quick`` training step against PyTorch, on this CPU.

    pip install torch==2.13.0          # the CPU build; not a t2x dependency
    python benchmarks/peer_shake_shake.py --mnist_dir=../shared/data/mnist \
        [--steps=20] [--warmup_steps=5] [--rounds=3] [--threads=N] [--data_dir=DIR]

The network is t2x's ``shake_shake`` model with the ``shake_shake_quick`` hparams set:
Shake-Shake 26 2x32d (``num_hidden_layers = 26``: 4 blocks per stage, ``hidden_size = 32``:
stages of 32, 64 and 128 filters, a 16-filter stem), two branches, batch 100, Adam
(0.85, 0.997, 1e-6) under T2T's ``legacy`` schedule (exponential warm-up over 100 steps, then
a 1000-step cosine, times 0.5 * 0.002), L2 weight decay 1e-4 on every weight but biases and
batch-norm offsets, no clipping, no label smoothing, no dropout. Its input: real MNIST
(``image_mnist``, per-image standardized 28x28x1 floats), ``warmup_steps + steps`` batches taken
once from ``problem.dataset`` (t2x's own pipeline: shards generated from the IDX files in
``--mnist_dir``, the training stream of ``t2x-trainer``, seed 1) and saved to a ``.npz``; every
arm trains on exactly those batches.

Four arms by default, each in a fresh process, alternating within each round:

* ``t2x_float32``: t2x's compiled train step (``Trainer.steps.train_step``, what
  ``t2x-trainer`` runs: the model, its loss, weight decay, the gradient norm, the finite
  check, Adam with the schedule) fed the saved batches, timed as ``peer_transformer.py``
  times its t2x arm (one ``train_step(iterator)`` and the loss's ``.numpy()`` per step);
* ``t2x_bfloat16``: the same with ``activation_dtype=bfloat16`` (Keras ``mixed_bfloat16``);
* ``torch_float32``: the same network in PyTorch (below) under ``torch.compile`` (Inductor),
  timed from the numpy batch to ``loss.item()`` after ``optimizer.step()``;
* ``torch_bfloat16``: the same under ``torch.autocast("cpu", dtype=torch.bfloat16)``.

``--arms`` picks and orders them; ``torch_eager_float32`` and ``torch_eager_bfloat16`` (the
same without ``torch.compile``) can be added, and their ratios are then reported too.
``torch.compile`` compiles during the first warm-up step (``--warmup_steps`` must be >= 1):
here about 3 minutes the first time for each precision (2 loaded cores), about 20 s once
Inductor's cache (``/tmp/torchinductor_<user>``) holds the kernels; none of it is timed.

The PyTorch network, written to be t2x's function with the same parameters (the parameter
counts of both are printed and must agree): 3x3 stem conv (no bias) + batch norm; per block
two branches ``relu -> conv3x3(stride) -> bn -> relu -> conv3x3 -> bn``; stride-2 convs padded
as TensorFlow's ``"same"`` (one row and column of zeros at the bottom and right, not
PyTorch's symmetric ``padding=1``); the shortcut where the shape changes is T2T's two strided
1x1 paths, the second on the image shifted by one pixel, concatenated and batch normalized;
the shake is per example, forward weights ``alpha`` and independent backward weights
``beta`` (uniform on the simplex, drawn each step), as ``models/shake_shake.py``'s ``shake``,
written as one ``torch.autograd.Function``; final relu, mean pool, dense to 10 logits. Batch
norms with Keras's epsilon (1e-3) and momentum (0.99, i.e. PyTorch's 0.01); glorot-uniform
kernels, zero biases. Optimizer: ``torch.optim.Adam`` with the same betas and epsilon, its
``weight_decay`` (the gradient of the L2 term, as t2x adds it) on the same parameter group,
the learning rate of T2T's legacy schedule set each step, ``fused=True`` (the CPU fused
kernel). ``torch.set_num_threads`` to the cores this process may use (``--threads`` to
change; given, it also sets TensorFlow's intra-op threads, and inter-op to 1). The PyTorch
processes never import TensorFlow: they read the hparams saved with the batches.

PyTorch's settings, measured here before choosing (2-core Xeon with AVX512-BF16 and AMX,
torch 2.13.0+cpu, batch 100, while other jobs kept the machine busy (load 3.5 to 7), so only
roughly):

* memory format (``--torch_memory_format``, default ``channels_last``; ``contiguous`` is
  NCHW). Eager, 2 threads, 8 timed steps after 3, two alternated rounds: float32 NCHW
  9.9 / 9.2 images/s, channels_last 11.4 / 11.7 (about 1.2x both rounds); bfloat16 NCHW
  11.1 / 11.3, channels_last 10.2 / 11.8 (a tie). Compiled, float32, 1 thread: channels_last
  2.2 to 2.5 s a step, NCHW 2.4 to 2.5 (a tie). channels_last won or tied everywhere.
* ``torch.compile``: compiled float32 (1 thread) took 2.2 to 2.5 s a step against eager's
  4.7 to 4.9 (1 thread), about 2x; compiled bfloat16 0.8 s a step. Eager PyTorch spends
  about 35 % of a step in batch norm (forward and backward) and most of the rest in
  convolutions; Inductor fuses the batch norms and the element-wise ops around them.

**Run it on an otherwise idle machine.** PyTorch's CPU threads are OpenMP threads, which wait
for each other at the end of every parallel kernel; when other processes hold the cores, a
descheduled thread stalls the rest. With two other trainers running on this 2-core machine
(load 3 to 7), PyTorch on 2 threads collapsed while t2x (TensorFlow's own thread pool) did
not: compiled bfloat16 3.6 to 4.7 images/s on 2 threads against 136 on 1 thread
(``OMP_WAIT_POLICY=PASSIVE`` did not help: 4.2); t2x bfloat16 99 on 2 threads, 102 on 1. On a
shared machine compare ``--threads=1`` as well. The load average before and after the rounds
is printed, with a warning when it exceeded the cores before the start.

Before the rounds, when a PyTorch arm runs, t2x's model (random batch-norm statistics) has its
weights copied one for one into the PyTorch network (every variable must find its twin, same
shape) and both compute eval-mode logits of the first batch: the largest difference is
printed (about 1e-6: the same function, not only the same parameter count).

The rate is images per second over the ``--steps`` steps after ``--warmup_steps`` (tracing and
warm-up excluded). Prints each round, images/s per arm (median over rounds), the per-round
ratios t2x / PyTorch in float32 and in bfloat16 (median, min, max), then one JSON line.
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
os.environ["T2X_OFFLINE"] = "1"  # the IDX files come from --mnist_dir; nothing is downloaded

ARMS = ("t2x_float32", "torch_float32", "t2x_bfloat16", "torch_bfloat16",
        "torch_eager_float32", "torch_eager_bfloat16")
DEFAULT_ARMS = ARMS[:4]
PROBLEM = "image_mnist"
MODEL = "shake_shake"
HPARAMS_SET = "shake_shake_quick"
MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
SEED = 1


def available_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# ------------------------------------------------------------------ the batches --

def save_batches(mnist_dir, data_dir, path, count):
    """``count`` training batches of ``image_mnist`` as t2x's pipeline gives them -> ``path``."""
    import numpy as np

    from t2x import registry
    from t2x.data.problem import Mode
    from t2x.hparam import create_hparams

    problem = registry.problem(PROBLEM)
    raw = tempfile.mkdtemp(prefix="t2x_peer_mnist_raw_")
    try:
        for name in MNIST_FILES:
            source = os.path.join(mnist_dir, name)
            if not os.path.exists(source):
                raise SystemExit(f"{source} is missing: --mnist_dir must hold the four MNIST IDX files")
            shutil.copy(source, raw)
        problem.generate_data(data_dir, raw)  # keeps shards already there and valid
    finally:
        shutil.rmtree(raw, ignore_errors=True)
    hp = create_hparams(HPARAMS_SET)
    ds = problem.dataset(Mode.TRAIN, data_dir, hp, batch_size=hp.batch_size, seed=SEED, deterministic=True,
                         drop_remainder=True)
    arrays = {}
    for i, batch in enumerate(ds.take(count)):
        arrays[f"inputs_{i}"] = batch["inputs"].numpy()
        arrays[f"targets_{i}"] = batch["targets"].numpy()
    np.savez(path, hparams=hp.to_json(), **arrays)


def load_batches(path, count):
    import numpy as np

    data = np.load(path)
    n = len([k for k in data.files if k.startswith("inputs_")])
    return [(data[f"inputs_{i % n}"], data[f"targets_{i % n}"]) for i in range(count)]


class SavedHParams(dict):
    """``shake_shake_quick``'s values as saved with the batches (no TensorFlow import)."""

    __getattr__ = dict.__getitem__


def load_hparams(path):
    import numpy as np

    return SavedHParams(json.loads(str(np.load(path)["hparams"])))


# ------------------------------------------------------------------------ t2x --

def run_t2x(batches_path, data_dir, steps, warmup, dtype, threads):
    import numpy as np
    import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    from t2x import registry
    from t2x.hparam import create_hparams
    from t2x.training.trainer import Trainer

    batches = load_batches(batches_path, warmup + steps)
    hp = create_hparams(HPARAMS_SET, f"activation_dtype={dtype}")
    out = tempfile.mkdtemp(prefix="t2x_peer_ss_run_")
    try:
        trainer = Trainer(problem=registry.problem(PROBLEM), model_name=MODEL, hparams=hp,
                          hparams_set=HPARAMS_SET, data_dir=data_dir, output_dir=out,
                          train_steps=warmup + steps, random_seed=SEED)
        trainer._build()
        model = trainer.model
        trainable = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
        stats = sum(int(np.prod(v.shape)) for v in model.non_trainable_variables
                          if "moving_" in v.path)
        print(f"PARAMS {trainable} {stats}")
        ds = tf.data.Dataset.from_tensor_slices({"inputs": np.stack([b[0] for b in batches]),
                                                 "targets": np.stack([b[1] for b in batches])})
        iterator = iter(ds)
        times = []
        for _ in batches:
            start = time.perf_counter()
            trainer.steps.train_step(iterator)["loss"].numpy()
            times.append(time.perf_counter() - start)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    timed = range(warmup, warmup + steps)
    return sum(len(batches[i][1]) for i in timed) / sum(times[i] for i in timed)


# -------------------------------------------------------------------- PyTorch --

def legacy_learning_rate(hp, step):
    """T2T's legacy schedule of ``shake_shake_quick`` (t2x/training/learning_rate.py) at ``step``
    (0-based, as Keras reads ``optimizer.iterations``): exp warm-up, then the cosine cycle."""
    assert hp.learning_rate_schedule == "legacy" and hp.learning_rate_decay_scheme == "cosine"
    scale = hp.learning_rate * (0.002 if "adam" in hp.optimizer.lower() else 1.0)
    warmup = float(hp.learning_rate_warmup_steps)
    if step < warmup:
        return scale * 0.01 ** (1.0 - step / warmup)
    cycle = float(hp.learning_rate_cosine_cycle_steps)
    position = cycle - abs(cycle - math.fmod(step, 2.0 * cycle))
    return scale * 0.5 * (1.0 + math.cos(math.pi * position / cycle))


def torch_model(hp):
    """The PyTorch twin of t2x's ShakeShake (see the module docstring)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    def bn(channels):
        return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)  # Keras's epsilon and momentum 0.99

    def shift(x):  # T2T's second shortcut path: zero-pad bottom/right, crop top/left
        return F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]

    class SameConv(nn.Conv2d):
        """A 3x3 convolution padded as TensorFlow's "same" (stride 2: the extra zero row and
        column at the bottom and right)."""

        def __init__(self, cin, cout, stride):
            super().__init__(cin, cout, 3, stride=stride, padding=1 if stride == 1 else 0, bias=False)

        def forward(self, x):
            if self.stride[0] == 1:
                return super().forward(x)
            pads = []
            for size in (x.shape[3], x.shape[2]):
                total = max((math.ceil(size / self.stride[0]) - 1) * self.stride[0] + 3 - size, 0)
                pads += [total // 2, total - total // 2]
            return super().forward(F.pad(x, pads))

    class Shake(torch.autograd.Function):
        """sum_i alpha_i * b_i in value, beta_i in gradient (models/shake_shake.py's ``shake``)."""

        @staticmethod
        def forward(ctx, alpha, beta, *branches):
            ctx.save_for_backward(beta)
            out = branches[0] * alpha[:, 0:1]
            for i, b in enumerate(branches[1:], 1):
                out = out + b * alpha[:, i:i + 1]
            return out

        @staticmethod
        def backward(ctx, grad):
            (beta,) = ctx.saved_tensors
            return (None, None) + tuple(grad * beta[:, i:i + 1] for i in range(beta.shape[1]))

    class Branch(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1, self.bn1 = SameConv(cin, cout, stride), bn(cout)
            self.conv2, self.bn2 = SameConv(cout, cout, 1), bn(cout)

        def forward(self, x):
            x = self.bn1(self.conv1(F.relu(x)))
            return self.bn2(self.conv2(F.relu(x)))

    class Skip(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.stride = stride
            self.path1_conv = nn.Conv2d(cin, cout // 2, 1, bias=False)
            self.path2_conv = nn.Conv2d(cin, cout // 2, 1, bias=False)
            self.bn = bn(cout)

        def forward(self, x):
            s = self.stride
            path1 = self.path1_conv(x[:, :, ::s, ::s])
            path2 = self.path2_conv(shift(x)[:, :, ::s, ::s])
            return self.bn(torch.cat([path1, path2], dim=1))

    class Block(nn.Module):
        def __init__(self, cin, cout, stride, num_branches):
            super().__init__()
            self.num_branches = num_branches
            self.branches = nn.ModuleList(Branch(cin, cout, stride) for _ in range(num_branches))
            self.skip = Skip(cin, cout, stride) if cin != cout or stride != 1 else None

        def forward(self, x):
            branches = [b(x) for b in self.branches]
            if self.training:
                # Per example, uniform on the simplex: normalized Exp(1) draws (t2x's draw).
                draws = torch.empty(2, x.shape[0], self.num_branches, 1, 1).exponential_()
                alpha, beta = (draws / draws.sum(dim=2, keepdim=True)).to(branches[0].dtype).unbind(0)
                out = Shake.apply(alpha, beta, *branches)
            else:
                out = sum(branches) * (1.0 / self.num_branches)
            return out + (x if self.skip is None else self.skip(x))

    class ShakeShake(nn.Module):
        def __init__(self, depth, width, num_branches, in_channels=1, classes=10):
            super().__init__()
            self.init_conv, self.init_bn = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False), bn(16)
            blocks, cin = [], 16
            for cout, stride in ((width, 1), (2 * width, 2), (4 * width, 2)):
                for i in range((depth - 2) // 6):
                    blocks.append(Block(cin, cout, stride if i == 0 else 1, num_branches))
                    cin = cout
            self.blocks = nn.Sequential(*blocks)
            self.logits = nn.Linear(cin, classes)
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.xavier_uniform_(m.weight)  # "uniform_unit_scaling", gain 1 = glorot uniform
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)

        def forward(self, x):
            x = F.relu(self.blocks(self.init_bn(self.init_conv(x))))
            return self.logits(x.mean(dim=(2, 3)))

    return ShakeShake(hp.num_hidden_layers, hp.hidden_size, hp.get("shake_shake_num_branches", 2))


def run_torch(batches_path, steps, warmup, dtype, threads, memory_format, compiled):
    try:
        import torch
    except ImportError:
        raise SystemExit("PyTorch is missing: pip install torch (the CPU build; not a t2x dependency)")
    import torch.nn.functional as F

    torch.set_num_threads(threads or available_cores())
    torch.manual_seed(SEED)
    hp = load_hparams(batches_path)
    assert hp.optimizer == "adam" and not hp.get("clip_grad_norm") and not hp.get("label_smoothing")
    assert not hp.get("shake_shake_concat") and not hp.get("layer_prepostprocess_dropout")
    batches = load_batches(batches_path, warmup + steps)
    fmt = torch.channels_last if memory_format == "channels_last" else torch.contiguous_format
    model = torch_model(hp).to(memory_format=fmt).train()
    trainable = sum(p.numel() for p in model.parameters())
    stats = sum(b.numel() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var")))
    print(f"PARAMS {trainable} {stats}")
    # t2x's weight decay skips rank-1 biases and batch-norm offsets (PyTorch calls both "bias").
    no_decay = [p for n, p in model.named_parameters() if p.ndim == 1 and n.endswith("bias")]
    decay = [p for n, p in model.named_parameters() if not (p.ndim == 1 and n.endswith("bias"))]
    kwargs = dict(lr=legacy_learning_rate(hp, 0), betas=(hp.optimizer_adam_beta1, hp.optimizer_adam_beta2),
                  eps=hp.optimizer_adam_epsilon)
    groups = [{"params": decay, "weight_decay": hp.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    try:
        optimizer = torch.optim.Adam(groups, fused=True, **kwargs)
    except (RuntimeError, TypeError):  # an older torch without the CPU fused kernel
        optimizer = torch.optim.Adam(groups, **kwargs)
    autocast = dtype == "bfloat16"
    forward = torch.compile(model) if compiled else model  # compiled on the first (warm-up) step
    times = []
    for step, (inputs, targets) in enumerate(batches):
        start = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = legacy_learning_rate(hp, step)
        x = torch.from_numpy(inputs).permute(0, 3, 1, 2).contiguous(memory_format=fmt)  # NHWC -> NCHW
        y = torch.from_numpy(targets[:, 0])
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=autocast):
            logits = forward(x)
        loss = F.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss.item()
        times.append(time.perf_counter() - start)
    timed = range(warmup, warmup + steps)
    return sum(len(batches[i][1]) for i in timed) / sum(times[i] for i in timed)


def check_same_function(batches_path):
    """t2x's model with random batch-norm statistics, its weights copied one for one into the
    PyTorch twin: ``(max |logits difference|, max |logit|)`` in eval mode on the first saved
    batch. Every t2x variable must find its PyTorch tensor (same names, same shapes)."""
    import numpy as np
    import tensorflow as tf
    import torch

    from t2x import registry
    from t2x.hparam import create_hparams
    from t2x.training.trainer import Trainer

    hp = create_hparams(HPARAMS_SET)
    out = tempfile.mkdtemp(prefix="t2x_peer_ss_check_")
    try:
        trainer = Trainer(problem=registry.problem(PROBLEM), model_name=MODEL, hparams=hp,
                          hparams_set=HPARAMS_SET, data_dir=out, output_dir=out, train_steps=1, random_seed=SEED)
        trainer._build()
    finally:
        shutil.rmtree(out, ignore_errors=True)
    model = trainer.model
    rng = np.random.default_rng(SEED)
    for v in model.variables:  # non-trivial batch norms: random statistics, scales and offsets
        if v.path.endswith(("moving_mean", "/beta")):
            v.assign(rng.normal(0.0, 0.1, v.shape).astype("float32"))
        elif v.path.endswith(("moving_variance", "/gamma")):
            v.assign(rng.uniform(0.5, 1.5, v.shape).astype("float32"))
    keras_vars = {v.path: v for v in model.variables if "seed_generator" not in v.path}
    twin = torch_model(load_hparams(batches_path)).eval()
    blocks_per_stage = (hp.num_hidden_layers - 2) // 6

    def keras_path(name):  # "blocks.5.branches.1.bn2.weight" -> ".../stage_2_block_1/branch_1/bn2/gamma"
        parts = name.split(".")
        if parts[0] != "blocks":
            layer, leaf = "shake_shake/" + parts[0], parts[1]
        else:
            k = int(parts[1])
            block = f"shake_shake/stage_{k // blocks_per_stage + 1}_block_{k % blocks_per_stage}"
            if parts[2] == "branches":
                layer, leaf = f"{block}/branch_{parts[3]}/{parts[4]}", parts[5]
            else:
                layer, leaf = f"{block}/skip/" + {"bn": "final_path_bn"}.get(parts[3], parts[3]), parts[4]
        norm = "bn" in layer.rsplit("/", 1)[-1]  # init_bn, bn1, bn2, final_path_bn
        return layer + "/" + {"weight": "gamma" if norm else "kernel", "bias": "beta" if norm else "bias",
                              "running_mean": "moving_mean", "running_var": "moving_variance"}[leaf]

    tensors = list(twin.named_parameters()) + [(n, b) for n, b in twin.named_buffers()
                                               if n.endswith(("running_mean", "running_var"))]
    used = set()
    with torch.no_grad():
        for name, tensor in tensors:
            path = keras_path(name)
            value = keras_vars[path].numpy()
            used.add(path)
            value = value.transpose(3, 2, 0, 1) if value.ndim == 4 else value.T if value.ndim == 2 else value
            if tuple(value.shape) != tuple(tensor.shape):
                raise SystemExit(f"{name} {tuple(tensor.shape)} vs t2x's {path} {value.shape}")
            tensor.copy_(torch.from_numpy(np.ascontiguousarray(value)))
    if set(keras_vars) - used:
        raise SystemExit(f"t2x variables with no PyTorch twin: {sorted(set(keras_vars) - used)}")
    inputs, targets = load_batches(batches_path, 1)[0]
    ours = model({"inputs": tf.constant(inputs), "targets": tf.constant(targets)}, training=False).numpy()[:, 0]
    with torch.no_grad():
        theirs = twin(torch.from_numpy(inputs).permute(0, 3, 1, 2).contiguous()).numpy()
    return float(np.abs(ours - theirs).max()), float(np.abs(ours).max())


# ----------------------------------------------------------------------- main --

def spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mnist_dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                            "..", "..", "shared", "data", "mnist"),
                        help="the four MNIST IDX files (default ../shared/data/mnist from the repository root)")
    parser.add_argument("--data_dir", help="image_mnist shards (generated there when missing; default: a "
                                           "temporary folder, deleted at the end)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per arm and round")
    parser.add_argument("--warmup_steps", type=int, default=5, help="untimed steps before them")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0,
                        help="threads of each arm (TF intra-op, torch.set_num_threads); 0: all cores")
    parser.add_argument("--torch_memory_format", choices=("contiguous", "channels_last"), default="channels_last")
    parser.add_argument("--arms", default=",".join(DEFAULT_ARMS),
                        help="which arms, in the order they run in each round: some of " + ",".join(ARMS))
    parser.add_argument("--arm", choices=ARMS, help="internal: run one arm, print its rate")
    parser.add_argument("--batches", help="internal: the saved batches")
    args = parser.parse_args()
    if args.steps < 1 or args.warmup_steps < 0 or args.rounds < 1:
        parser.error("--steps >= 1, --warmup_steps >= 0 and --rounds >= 1")
    if args.arm:
        framework, dtype = args.arm.rsplit("_", 1)
        if framework.startswith("torch"):
            rate = run_torch(args.batches, args.steps, args.warmup_steps, dtype, args.threads,
                             args.torch_memory_format, compiled=framework == "torch")
        else:
            rate = run_t2x(args.batches, args.data_dir, args.steps, args.warmup_steps, dtype, args.threads)
        print(f"RATE {rate}")
        return

    arms = [a for a in args.arms.split(",") if a]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        parser.error(f"unknown arms {unknown}; choose from {','.join(ARMS)}")
    if args.warmup_steps < 1 and any(a.startswith("torch_") and "eager" not in a for a in arms):
        parser.error("torch.compile compiles on the first step: --warmup_steps must be >= 1")
    if any(a.startswith("torch") for a in arms):
        try:
            import torch
        except ImportError:
            raise SystemExit("PyTorch is missing: pip install torch (the CPU build; not a t2x dependency)")
        torch_version = torch.__version__
    else:
        torch_version = None
    load_before = os.getloadavg()[0]
    if load_before > available_cores() - 0.5:
        print(f"WARNING: load average {load_before:.1f} on {available_cores()} cores before the start: "
              "other processes share the cores, and PyTorch's OpenMP threads slow down far more than "
              "TensorFlow's under sharing (see the docstring); the ratios will not be PyTorch's best", flush=True)
    work = tempfile.mkdtemp(prefix="t2x_peer_ss_bench_")
    data_dir = args.data_dir or os.path.join(work, "data")
    batches = os.path.join(work, "batches.npz")
    rates = {arm: [] for arm in arms}
    params = {}
    same_function = None
    try:
        save_batches(os.path.abspath(args.mnist_dir), data_dir, batches, args.warmup_steps + args.steps)
        if torch_version:
            diff, scale = check_same_function(batches)
            same_function = {"max_abs_logit_diff": diff, "max_abs_logit": scale}
            print(f"same function: t2x's weights copied into the PyTorch network, eval-mode logits of the "
                  f"first batch differ by at most {diff:.2e} (largest |logit| {scale:.2f})", flush=True)
        for r in range(args.rounds):
            for arm in arms:
                result = subprocess.run(
                    [sys.executable, os.path.abspath(__file__), f"--arm={arm}", f"--batches={batches}",
                     f"--data_dir={data_dir}", f"--steps={args.steps}", f"--warmup_steps={args.warmup_steps}",
                     f"--threads={args.threads}", f"--torch_memory_format={args.torch_memory_format}"],
                    capture_output=True, text=True, check=False)
                lines = result.stdout.splitlines()
                rate = [l for l in lines if l.startswith("RATE ")]
                if result.returncode or not rate:
                    raise SystemExit(f"arm {arm} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
                rates[arm].append(float(rate[-1].split()[1]))
                counts = [l for l in lines if l.startswith("PARAMS ")]
                if counts:
                    params[arm.split("_")[0]] = [int(x) for x in counts[-1].split()[1:]]  # t2x or torch
            print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{a} {rates[a][-1]:.1f}" for a in arms)
                  + " images/s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    load_after = os.getloadavg()[0]
    print(f"load average (1 min): {load_before:.1f} before, {load_after:.1f} after, on {available_cores()} cores")
    for framework, (trainable, stats) in sorted(params.items()):
        print(f"parameters: {framework} {trainable:,} trainable + {stats:,} batch-norm statistics")
    if len(params) == 2:
        same = params["t2x"] == params["torch"]
        print("parameter counts " + ("agree" if same else "DIFFER: not the same network"))
    medians = {arm: statistics.median(rates[arm]) for arm in arms}
    print("images/s (median over rounds): " + ", ".join(f"{a} {medians[a]:.1f}" for a in arms))
    summary = {}
    for peer in ("torch", "torch_eager"):
        for dtype in ("float32", "bfloat16"):
            a, b = f"t2x_{dtype}", f"{peer}_{dtype}"
            if a in rates and b in rates:
                summary[f"t2x_over_{peer}_{dtype}"] = spread([x / y for x, y in zip(rates[a], rates[b])])
    for name, s in summary.items():
        print(f"{name}: {s['median']:.2f}x [{s['min']:.2f}, {s['max']:.2f}] (median [min, max] of per-round ratios)")
    print("JSON " + json.dumps({
        "benchmark": "peer_shake_shake", "problem": PROBLEM, "model": MODEL, "hparams_set": HPARAMS_SET,
        "steps": args.steps, "warmup_steps": args.warmup_steps, "rounds": args.rounds,
        "threads": args.threads or available_cores(), "torch_memory_format": args.torch_memory_format,
        "load_average": [load_before, load_after],
        "torch_version": torch_version, "params": params, "same_function": same_function, "rates": rates, "median_rates": medians,
        "summary": summary}))


if __name__ == "__main__":
    main()
