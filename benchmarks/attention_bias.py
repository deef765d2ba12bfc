"""The causal attention bias on CPU: added as it broadcasts vs broadcast first.

    python benchmarks/attention_bias.py [--lengths=41,100,400] [--batch=48] [--rounds=5]

``t2x.layers.MultiheadAttention`` of ``transformer_tiny``'s size (hidden 128, 4 heads), one
compiled ``tf.function`` per variant, forward only (evaluation, slow-path decoding, export),
self-attention over ``[batch, length, 128]`` with ``attention_bias_lower_triangle(length)``
(``[1, 1, L, L]``). Variant ``add`` is the layer as it was (``logits += bias``); ``broadcast``
is the layer as it is (``logits += broadcast_to(bias, shape(logits))``); ``no_bias`` is the
floor. The variants alternate within each round; the table is the median per-call time
ratio against ``broadcast``, then one ``JSON {...}`` line.
"""

import argparse
import json
import statistics
import time

import tensorflow as tf

from t2x.layers import MultiheadAttention, attention_bias_lower_triangle


class _AddAsItBroadcasts(MultiheadAttention):
    """The layer before the fix: the bias added with the add's own broadcasting."""

    def attend(self, query, k, v, bias=None, training=False):
        q = self._split_heads(self.q(query))
        q *= tf.cast((self.key_depth // self.num_heads) ** -0.5, q.dtype)
        logits = tf.cast(tf.matmul(q, k, transpose_b=True), tf.float32)
        if bias is not None:
            logits += tf.cast(bias, tf.float32)
        weights = tf.cast(tf.nn.softmax(logits, axis=-1), v.dtype)
        x = tf.transpose(tf.matmul(weights, v), [0, 2, 1, 3])
        x = tf.reshape(x, [tf.shape(x)[0], tf.shape(x)[1], x.shape[2] * x.shape[3]])
        return self.o(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lengths", default="41,100,400")
    ap.add_argument("--batch", type=int, default=48)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    figures = {}
    for length in [int(x) for x in args.lengths.split(",")]:
        x = tf.random.normal([args.batch, length, 128], seed=1)
        bias = attention_bias_lower_triangle(length)
        new = MultiheadAttention(4, 128, 128, 128, 0.0, "glorot_uniform")
        new(x, x, bias)
        old = _AddAsItBroadcasts(4, 128, 128, 128, 0.0, "glorot_uniform", name="add_as_it_broadcasts")
        old(x, x, bias)
        old.set_weights(new.get_weights())
        variants = {"add": tf.function(lambda x: old(x, x, bias)),
                    "broadcast": tf.function(lambda x: new(x, x, bias)),
                    "no_bias": tf.function(lambda x: new(x, x, None))}
        outs = {name: fn(x).numpy() for name, fn in variants.items()}  # traced before timing
        same = float(abs(outs["add"] - outs["broadcast"]).max())
        times = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, fn in variants.items():
                start = time.perf_counter()
                fn(x).numpy()
                times[name].append(time.perf_counter() - start)
        ratios = {name: statistics.median(a / b for a, b in zip(times[name], times["broadcast"]))
                  for name in variants}
        figures[length] = {"ratio_vs_broadcast": ratios, "max_abs_diff_add_vs_broadcast": same}
        print(f"length {length:4d}: add / broadcast = {ratios['add']:8.1f}x   "
              f"no_bias / broadcast = {ratios['no_bias']:.2f}x   outputs differ by {same:.1e}",
              flush=True)
    print("JSON " + json.dumps({"batch": args.batch, "rounds": args.rounds, "lengths": figures}))


if __name__ == "__main__":
    main()
