"""Decoding speed, side by side: cached (fast) vs slow greedy decoding at several output
lengths, and beam search vs greedy.

    python benchmarks/decode_speed.py [--hparams_set=transformer_small] [--vocab=8192]
        [--batch=32] [--input_length=20] [--lengths=32,64,128] [--beam=4] [--rounds=3]

A ``transformer`` of the given set (random weights: speed does not depend on them) on a
problem with ``--vocab`` symbols; EOS is masked out of the logits so every sequence runs
to exactly the asked length. Each variant is a compiled ``tf.function`` (traced and run
once before timing); the variants alternate within each round so that the noise of a
shared machine falls on all of them. Reported: output tokens/s of each variant (median of
rounds) and the per-round ratios fast/slow at each length and beam/greedy (fast path; a
beam step decodes ``beam`` hypotheses, its tokens/s counts the best beam's tokens, i.e.
sentences x length, as a user sees it). Ends with one JSON line.

With a trained run, the real decoder on a real split (Multi30k's test set, say):

    python benchmarks/decode_speed.py --output_dir=RUN [--decode_split=test] [--beam=4]
        [--rounds=3] [--decode_batch=32] [--reference_outputs=FILE] [--write_outputs=FILE]

greedy and beam search through ``SequenceDecoder`` (``model.infer``, as ``t2x-decoder``
runs it, batches by length), alternating; target tokens/s counts each output's tokens up
to and including its EOS. ``--write_outputs`` writes the beam outputs (one line of ids
per example, in split order); ``--reference_outputs`` compares them with such a file
written by another version of t2x (e.g. before a change to beam search) and reports how
many differ. Also reported: the decoding loop's steps per batch of each arm (beam search
runs on until no alive beam can beat the finished ones: T2T's exact ``stop_early``).
"""

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hparams_set", default="transformer_small")
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--input_length", type=int, default=20)
    parser.add_argument("--lengths", default="32,64,128")
    parser.add_argument("--beam", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output_dir", default=None, help="a trained run: time its real decoder")
    parser.add_argument("--decode_split", default="test")
    parser.add_argument("--decode_batch", type=int, default=32)
    parser.add_argument("--max_examples", type=int, default=0)
    parser.add_argument("--write_outputs", default=None)
    parser.add_argument("--reference_outputs", default=None)
    args = parser.parse_args()
    if args.output_dir:
        return trained_run(args)

    import keras
    import numpy as np
    import tensorflow as tf

    from t2x import decoding, registry
    from t2x.hparam import HParams
    from t2x.model import model_for

    keras.utils.set_random_seed(0)
    hp = registry.hparams(args.hparams_set)()
    problem_hparams = HParams(modality={"inputs": "symbol", "targets": "symbol"},
                              vocab_size={"inputs": args.vocab, "targets": args.vocab},
                              loss_multiplier=1.0, target_space_id=1)
    model = model_for("transformer", hp, problem_hparams)
    rng = np.random.RandomState(0)
    inputs = tf.constant(rng.randint(2, args.vocab, size=(args.batch, args.input_length)), tf.int64)
    model({"inputs": inputs, "targets": inputs}, training=False)

    def no_eos(fn):
        def wrapped(ids, i, cache):
            logits, cache = fn(ids, i, cache)
            return logits + tf.one_hot(decoding.EOS_ID, args.vocab, on_value=-decoding.INF), cache
        return wrapped

    def make(kind, length):
        @tf.function
        def run(x):
            batch = tf.shape(x)[0]
            beams = args.beam if kind == "beam" else 1
            if kind == "slow":
                fn, cache = model.slow_decode_fn({"inputs": x}, 1)
            else:
                fn, cache = model.fast_decode_fn({"inputs": x}, batch, length, beams)
            if kind == "beam":
                ids, _ = decoding.beam_search(no_eos(fn), batch, beams, length, args.vocab, 0.6, cache)
                return ids[:, 0]
            ids, _ = decoding.sample_decode(no_eos(fn), batch, length, cache)
            return ids
        return run

    lengths = [int(x) for x in args.lengths.split(",")]
    variants = [(kind, length) for length in lengths for kind in ("fast", "slow")]
    variants += [("beam", length) for length in lengths]
    fns = {v: make(*v) for v in variants}
    for v, fn in fns.items():  # trace + warm up
        out = fn(inputs).numpy()
        assert out.shape == (args.batch, v[1]) and (out != 0).all(), (v, out.shape)
    rates = {v: [] for v in variants}
    for r in range(args.rounds):
        for v, fn in fns.items():
            start = time.perf_counter()
            fn(inputs).numpy()
            rates[v].append(args.batch * v[1] / (time.perf_counter() - start))
        print(f"round {r + 1}/{args.rounds} done", flush=True)

    def ratio(a, b):
        per_round = [x / y for x, y in zip(rates[a], rates[b])]
        return statistics.median(per_round), min(per_round), max(per_round)

    result = {"hparams_set": args.hparams_set, "vocab": args.vocab, "batch": args.batch,
              "input_length": args.input_length, "beam": args.beam, "rounds": args.rounds,
              "tokens_per_s": {f"{k}@{n}": round(statistics.median(v), 1) for (k, n), v in rates.items()},
              "fast_over_slow": {}, "beam_over_greedy": {}}
    print(f"\n{'length':>6} {'fast tok/s':>11} {'slow tok/s':>11} {'fast/slow':>18} "
          f"{'beam' + str(args.beam) + ' tok/s':>12} {'beam/greedy':>18}")
    for n in lengths:
        fs, bg = ratio(("fast", n), ("slow", n)), ratio(("beam", n), ("fast", n))
        result["fast_over_slow"][n] = [round(x, 3) for x in fs]
        result["beam_over_greedy"][n] = [round(x, 3) for x in bg]
        print(f"{n:>6} {statistics.median(rates[('fast', n)]):>11.0f} {statistics.median(rates[('slow', n)]):>11.0f} "
              f"{fs[0]:>7.2f} ({fs[1]:.2f}..{fs[2]:.2f}) {statistics.median(rates[('beam', n)]):>12.0f} "
              f"{bg[0]:>7.3f} ({bg[1]:.3f}..{bg[2]:.3f})")
    print("JSON " + json.dumps(result))


def trained_run(args):
    """Greedy vs beam search of a trained run on one of its splits (see the docstring)."""
    import numpy as np

    from t2x.data.problem import Mode
    from t2x.inference.decoder import SequenceDecoder, batches_by_length

    import tensorflow as tf

    from t2x import decoding

    # Loop steps per batch, counted by wrapping the per-example length limit every decode
    # of a model with inputs goes through (beam search runs past greedy's last EOS until
    # no alive beam can beat the finished ones).
    steps = tf.Variable(0, dtype=tf.int64)
    force_eos_after = decoding.force_eos_after

    def counting_force_eos_after(fn, max_lengths, eos_id=decoding.EOS_ID):
        limited = force_eos_after(fn, max_lengths, eos_id)

        def counted(ids, i, cache):
            steps.assign_add(1)
            return limited(ids, i, cache)
        return counted
    decoding.force_eos_after = counting_force_eos_after

    arms = {"greedy": "beam_size=1", f"beam{args.beam}": f"beam_size={args.beam}"}
    decoders = {name: SequenceDecoder.from_output_dir(args.output_dir, decode_hparams=(
        f"{hp},batch_size={args.decode_batch},log_every=1000000")) for name, hp in arms.items()}
    first = next(iter(decoders.values()))
    ds = first.problem.dataset(Mode.EVAL, first.data_dir, dataset_split=args.decode_split, deterministic=True)
    if args.max_examples:
        ds = ds.take(args.max_examples)
    inputs = [e["inputs"].tolist() for e in ds.as_numpy_iterator()]
    rates = {name: [] for name in arms}
    outputs = {}
    loop_steps = {}
    batches = len(batches_by_length(inputs, args.decode_batch))
    for name, decoder in decoders.items():  # trace before timing
        steps.assign(0)
        outputs[name] = decoder.decode_ids(inputs)
        loop_steps[name] = round(int(steps.numpy()) / batches, 2)
    for r in range(args.rounds):
        for name, decoder in decoders.items():
            start = time.perf_counter()
            result = decoder.decode_ids(inputs)
            elapsed = time.perf_counter() - start
            assert result == outputs[name], f"{name}: outputs changed between rounds"
            tokens = sum(len(beams[0]) + 1 for beams in result)  # + EOS
            rates[name].append(tokens / elapsed)
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{n} {rates[n][-1]:.0f} tok/s" for n in arms), flush=True)
    beam_name = f"beam{args.beam}"
    per_round = [b / g for b, g in zip(rates[beam_name], rates["greedy"])]
    beam_lines = [" ".join(str(t) for t in beams[0]) for beams in outputs[beam_name]]
    result = {"output_dir": args.output_dir, "split": args.decode_split, "examples": len(inputs),
              "beam": args.beam, "rounds": args.rounds,
              "tokens_per_s": {n: round(statistics.median(v), 1) for n, v in rates.items()},
              "beam_over_greedy": [round(statistics.median(per_round), 3), round(min(per_round), 3),
                                   round(max(per_round), 3)],
              "mean_output_tokens": {n: round(float(np.mean([len(b[0]) for b in o])), 2) for n, o in outputs.items()},
              "loop_steps_per_batch": loop_steps}
    if args.write_outputs:
        with open(args.write_outputs, "w") as f:
            f.write("\n".join(beam_lines) + "\n")
    if args.reference_outputs:
        with open(args.reference_outputs) as f:
            reference = f.read().splitlines()
        if len(reference) != len(beam_lines):
            raise SystemExit(f"--reference_outputs has {len(reference)} lines, the split {len(beam_lines)}")
        result["beam_outputs_differing_from_reference"] = sum(a != b for a, b in zip(reference, beam_lines))
    print(f"{len(inputs)} examples of {args.decode_split}: greedy {result['tokens_per_s']['greedy']:.0f} tok/s, "
          f"{beam_name} {result['tokens_per_s'][beam_name]:.0f} tok/s, beam/greedy {per_round and result['beam_over_greedy'][0]:.3f} "
          f"({result['beam_over_greedy'][1]:.3f}..{result['beam_over_greedy'][2]:.3f}); loop steps per batch "
          + ", ".join(f"{n} {v}" for n, v in loop_steps.items())
          + (f"; beam outputs differing from the reference: {result['beam_outputs_differing_from_reference']}"
             if args.reference_outputs else ""))
    print("JSON " + json.dumps(result))


if __name__ == "__main__":
    main()
