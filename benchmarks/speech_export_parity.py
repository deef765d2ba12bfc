"""A speech run's SavedModel against its checkpoint on real recordings: the same transcripts?

    t2x-exporter --output_dir=RUN --export_dir=EXPORT
    python benchmarks/speech_export_parity.py --output_dir=RUN --export_dir=EXPORT \\
        --fsdd_recordings=<FSDD's recordings/> [--limit=0] [--decode_hparams=batch_size=1]

The list: FSDD's official test recordings (index 0-4 of each digit and speaker: 300), their
references the digit's word. The checkpoint decodes them through ``t2x-decoder``'s library
(``--decode_from_file``, greedy); the export runs in a fresh process that imports only
TensorFlow, once through ``serving_default(waveforms, lengths, sample_rate)`` and once
through ``transcribe_wav(wav)``. Prints agreement with the checkpoint and each path's WER.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

EXPORT_SIDE = """
import json, sys
import tensorflow as tf
m = tf.saved_model.load(sys.argv[1])
paths = json.load(open(sys.argv[2]))
out, wav = [], []
for path in paths:
    data = open(path, "rb").read()
    x, rate = tf.audio.decode_wav(data, desired_channels=1)
    r = m.signatures["serving_default"](waveforms=x[None, :, 0], lengths=tf.constant([x.shape[0]]),
                                        sample_rate=tf.constant(int(rate)))
    out.append(r["outputs"].numpy()[0].decode())
    wav.append(m.signatures["transcribe_wav"](wav=tf.constant([data]))["outputs"].numpy()[0].decode())
print(json.dumps({"serving_default": out, "transcribe_wav": wav,
                  "t2x_imported": any(k.startswith("t2x") for k in sys.modules)}))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--output_dir", required=True)
    ap.add_argument("--export_dir", required=True)
    ap.add_argument("--fsdd_recordings", required=True)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--decode_hparams", default="batch_size=1",
                    help="the checkpoint's decoding (the export runs one recording a call)")
    args = ap.parse_args()
    from t2x import metrics
    from t2x.inference import decoder as decoder_lib

    names = sorted(n for n in os.listdir(args.fsdd_recordings)
                   if n.endswith(".wav") and int(n[:-4].split("_")[2]) < 5)
    names = names[:args.limit] if args.limit else names
    paths = [os.path.join(os.path.abspath(args.fsdd_recordings), n) for n in names]
    references = [WORDS[int(n.split("_")[0])] for n in names]
    with tempfile.TemporaryDirectory() as tmp:
        listing, out = os.path.join(tmp, "list.txt"), os.path.join(tmp, "ckpt.txt")
        with open(listing, "w") as f:
            f.write("".join(p + "\n" for p in paths))
        print(decoder_lib.decode(args.output_dir, decode_from_file=listing, decode_to_file=out,
                                 decode_hparams=args.decode_hparams))
        checkpoint = open(out).read().split("\n")[:len(paths)]
        with open(os.path.join(tmp, "paths.json"), "w") as f:
            json.dump(paths, f)
        saved = os.path.join(args.export_dir, "saved_model")
        proc = subprocess.run([sys.executable, "-c", textwrap.dedent(EXPORT_SIDE), saved,
                               os.path.join(tmp, "paths.json")], capture_output=True, text=True, check=True)
        exported = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"{len(paths)} recordings; the export's process imported t2x: {exported['t2x_imported']}")
    print(f"checkpoint WER {100 * metrics.decode_results(['wer'], checkpoint, references)['wer']:.2f} %")
    for signature in ("serving_default", "transcribe_wav"):
        got = exported[signature]
        same = sum(a == b for a, b in zip(got, checkpoint))
        wer = metrics.decode_results(["wer"], got, references)["wer"]
        print(f"{signature}: {same}/{len(paths)} transcripts equal the checkpoint's, WER {100 * wer:.2f} %")
        for name, a, b in zip(names, got, checkpoint):
            if a != b:
                print(f"  {name}: export {a!r}, checkpoint {b!r}")


if __name__ == "__main__":
    main()
