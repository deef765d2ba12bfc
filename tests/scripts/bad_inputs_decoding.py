"""The bad-input catalogue's cases for decoding, BLEU, datagen and users' files (see
test_bad_inputs.py). Mark added by setup: {ALGO}, a tiny_algo transformer run (integer
vocabulary, 2 steps); setup also prepares a tiny TFDS image dataset offline (``TFDS``: its
user dir, tfds and data dirs), the two at once."""

import os
import subprocess
import sys
import textwrap

# The flags of the TFDS dataset setup prepares.
TFDS = "--t2x_usr_dir={R}/dec_tfds_usr --tfds_data_dir={R}/dec_tfds --data_dir={R}/dec_tfds_data"
# (case id, binary module, args, text the last stderr line must contain); marks as there.
CASES = [
    # t2x-decoder: every decode hparam's range, refused before the model loads
    ("decoder_beam_size_0", "t2x_decoder", "--output_dir={ALGO} --decode_hparams=beam_size=0",
     "--decode_hparams: beam_size=0 must be >= 1"),
    ("decoder_alpha_negative", "t2x_decoder", "--output_dir={ALGO} --decode_hparams=alpha=-0.5",
     "alpha=-0.5 must be >= 0"),
    ("decoder_extra_length_negative", "t2x_decoder", "--output_dir={ALGO} --decode_hparams=extra_length=-1",
     "extra_length=-1 must be >= 0"),
    ("decoder_batch_size_0", "t2x_decoder", "--output_dir={ALGO} --decode_hparams=batch_size=0",
     "batch_size=0 must be >= 1"),
    ("decoder_sampling_method", "t2x_decoder", "--output_dir={ALGO} --decode_hparams=sampling_method=nucleus",
     "sampling_method='nucleus' is not one of argmax, random"),
    ("decoder_sampling_temp_negative", "t2x_decoder",
     "--output_dir={ALGO} --decode_hparams=sampling_method=random,sampling_temp=-1", "sampling_temp=-1.0 must be >= 0"),
    ("decoder_top_k_negative", "t2x_decoder", "--output_dir={ALGO} --decode_hparams=top_k=-3",
     "top_k=-3 must be >= 0"),
    ("decoder_top_k_without_sampling", "t2x_decoder", "--output_dir={ALGO} --decode_hparams=top_k=5",
     "top_k=5 applies only to sampling: add sampling_method=random"),
    ("decoder_sampling_with_beams", "t2x_decoder",
     "--output_dir={ALGO} --decode_hparams=beam_size=4,sampling_method=random",
     "sampling_method='random' with beam_size=4: beam search does not sample"),
    ("decoder_log_every_0", "t2x_decoder", "--output_dir={ALGO} --decode_hparams=log_every=0",
     "log_every=0 must be >= 1"),
    ("decoder_max_input_length_1", "t2x_decoder", "--output_dir={ALGO} --decode_hparams=max_input_length=1",
     "max_input_length=1 leaves no room for a token before EOS"),
    ("trainer_decode_beam_size_0", "t2x_trainer", "{USR} --problem=image_tiny_digits --model=my_dense_net "
     "--data_dir={R}/data --tmp_dir={R}/raw --output_dir={R}/dec_o1 --eval_decode_split=dev "
     "--decode_hparams=beam_size=0", "--decode_hparams: beam_size=0 must be >= 1"),
    # t2x-decoder: the input file
    ("decoder_from_file_not_utf8", "t2x_decoder", "--output_dir={ALGO} --decode_from_file={R}/latin1.txt "
     "--decode_to_file={R}/dec_out1.txt", "latin1.txt:2: not UTF-8 (invalid continuation byte: byte 0xe9"),
    ("decoder_from_file_directory", "t2x_decoder", "--output_dir={ALGO} --decode_from_file={R}/empty",
     "--decode_from_file={R}/empty is a directory, not a text file"),
    ("decoder_from_file_empty", "t2x_decoder", "--output_dir={ALGO} --decode_from_file={R}/empty.txt",
     "--decode_from_file={R}/empty.txt is empty: nothing to decode"),
    ("decoder_from_file_blank_lines", "t2x_decoder", "--output_dir={ALGO} --decode_from_file={R}/dec/blank.txt",
     "blank.txt is empty (3 blank line(s)): nothing to decode"),
    ("decoder_words_for_integers", "t2x_decoder", "--output_dir={ALGO} --decode_from_file={R}/dec/words.txt "
     "--decode_to_file={R}/dec_out2.txt", "words.txt:2: 'hello' is not a symbol of tiny_algo: its inputs are "
     "space-separated integers 0..1"),
    ("decoder_integer_out_of_range", "t2x_decoder", "--output_dir={ALGO} --decode_from_file={R}/dec/seven.txt "
     "--decode_to_file={R}/dec_out3.txt", "seven.txt:1: '7' is not a symbol of tiny_algo"),
    # t2x-decoder: the output file, checked before the model loads
    ("decoder_to_file_is_a_directory", "t2x_decoder", "--output_dir={ALGO} --decode_from_file={R}/dec/ok.txt "
     "--decode_to_file={R}/empty", "--decode_to_file={R}/empty is a directory"),
    ("decoder_to_file_under_a_file", "t2x_decoder", "--output_dir={ALGO} --decode_from_file={R}/dec/ok.txt "
     "--decode_to_file={R}/a_file/out.txt", "cannot be written: {R}/a_file is a file, not a directory"),
    # t2x-decoder: the attention page's folder and count, refused before the model loads
    ("decoder_attention_dir_is_a_file", "t2x_decoder", "--output_dir={ALGO} --attention_dir={R}/a_file",
     "is a file: name a directory for the attention page"),
    ("decoder_attention_examples_0", "t2x_decoder",
     "--output_dir={ALGO} --attention_dir={R}/dec_attention --attention_examples=0",
     "--attention_examples=0 must be >= 1"),
    # t2x-decoder: images asked of a run that does not generate them
    ("decoder_images_of_a_text_run", "t2x_decoder", "--output_dir={ALGO} --image_dir={R}/dec_images",
     "tiny_algo has symbol inputs and symbol targets, not pixels: only an image generation run samples images"),
    # t2x-decoder: the other flags
    ("decoder_decode_split_unknown", "t2x_decoder", "--output_dir={ALGO} --decode_split=nosuch",
     "--decode_split='nosuch' is not a split of tiny_algo: use one of train, dev"),
    ("decoder_bleu_tokenize", "t2x_decoder", "--output_dir={ALGO} --bleu_tokenize=x",
     "--bleu_tokenize"),
    ("decoder_interactive_not_boolean", "t2x_decoder", "--output_dir={ALGO} --decode_interactive=maybe",
     "--decode_interactive"),
    ("decoder_saved_model_not_an_export", "t2x_decoder", "--saved_model={R}/empty --decode_from_file={R}/ok.txt",
     "--saved_model={R}/empty is not a SavedModel"),
    ("decoder_data_dir_without_shards", "t2x_decoder", "--output_dir={ALGO} --data_dir={R}/empty",
     "{R}/empty has 0 of 1 'dev' shards of tiny_algo; generate them with `t2x-datagen"),
    ("decoder_no_usr_dir", "t2x_decoder", "--output_dir={ALGO} --t2x_usr_dir={R}/nowhere", "no such directory"),
    ("decoder_checkpoint_path_missing", "t2x_decoder", "--output_dir={ALGO} --checkpoint_path={ALGO}/ckpt-99",
     "no checkpoint at {ALGO}/ckpt-99"),
    # t2x-bleu
    ("bleu_translation_not_utf8", "t2x_bleu", "--translation={R}/latin1.txt --reference={R}/ok.txt",
     "latin1.txt:2: not UTF-8"),
    ("bleu_reference_not_utf8", "t2x_bleu", "--translation={R}/ok.txt --reference={R}/latin1.txt",
     "latin1.txt:2: not UTF-8"),
    ("bleu_translation_directory", "t2x_bleu", "--translation={R}/empty --reference={R}/ok.txt",
     "--translation={R}/empty is a directory, not a text file"),
    ("bleu_no_reference", "t2x_bleu", "--translation={R}/ok.txt", "--reference is required"),
    ("bleu_tokenize_unknown", "t2x_bleu", "--translation={R}/ok.txt --reference={R}/ok.txt --tokenize=x",
     "--tokenize"),
    # t2x-datagen: flags
    ("datagen_task_id_out_of_range", "t2x_datagen", "--problem=tiny_algo --num_processes=2 --task_id=2 "
     "--data_dir={R}/dec_g1", "--task_id=2 is outside [0, --num_processes=2)"),
    ("datagen_random_seed_not_int", "t2x_datagen", "--problem=tiny_algo --random_seed=abc", "--random_seed"),
    ("datagen_tfds_data_dir_is_a_file", "t2x_datagen", "--problem=tiny_algo --tfds_data_dir={R}/a_file "
     "--data_dir={R}/dec_g2", "--tfds_data_dir={R}/a_file is a file, not a directory"),
    ("datagen_beam_not_boolean", "t2x_datagen", "--problem=tiny_algo --beam=maybe", "--beam"),
    ("datagen_tmp_dir_is_a_file", "t2x_datagen", "--problem=tiny_algo --data_dir={R}/dec_g3 --tmp_dir={R}/a_file",
     "--tmp_dir={R}/a_file is a file, not a directory"),
    ("datagen_data_dir_is_a_file", "t2x_datagen", "--problem=tiny_algo --data_dir={R}/a_file",
     "--data_dir={R}/a_file is a file, not a directory"),
    ("datagen_gin_file_missing", "t2x_datagen", "--problem=tiny_algo --data_dir={R}/dec_g4 --gin_file={R}/none.gin",
     "--gin_file/--gin_param: "),
    ("datagen_no_usr_dir", "t2x_datagen", "--t2x_usr_dir={R}/nowhere --problem=tiny_algo", "no such directory"),
    ("datagen_beam_unknown_runner", "t2x_datagen", "--problem=tiny_algo --data_dir={R}/dec_g5 --beam "
     "--beam_pipeline_options=--runner=NoSuchRunner", "--runner=NoSuchRunner is not a Beam runner"),
    ("datagen_beam_unclosed_quote", "t2x_datagen", "--problem=tiny_algo --data_dir={R}/dec_g6 --beam "
     "--beam_pipeline_options=--runner='FnApiRunner", "cannot be split into flags (No closing quotation)"),
    # users' files of the *_from_files problems
    ("datagen_from_files_train_inputs_directory", "t2x_datagen", "--problem=translate_from_files "
     "--data_dir={R}/dec_g7 --gin_param=TranslateFromFiles.train_inputs='{R}/empty' "
     "--gin_param=TranslateFromFiles.train_targets='{R}/ok.txt' --gin_param=TranslateFromFiles.dev_inputs='{R}/ok.txt' "
     "--gin_param=TranslateFromFiles.dev_targets='{R}/ok.txt'",
     "TranslateFromFiles.train_inputs={R}/empty is a directory, not a text file: pass a text file"),
    ("datagen_from_files_dev_targets_directory", "t2x_datagen", "--problem=translate_from_files "
     "--data_dir={R}/dec_g8 --gin_param=TranslateFromFiles.train_inputs='{R}/ok.txt' "
     "--gin_param=TranslateFromFiles.train_targets='{R}/ok.txt' --gin_param=TranslateFromFiles.dev_inputs='{R}/ok.txt' "
     "--gin_param=TranslateFromFiles.dev_targets='{R}/empty' --gin_param=TranslateFromFiles.vocab_type='character'",
     "TranslateFromFiles.dev_targets={R}/empty is a directory"),
    ("datagen_from_files_targets_not_utf8", "t2x_datagen", "--problem=translate_from_files "
     "--data_dir={R}/dec_g9 --gin_param=TranslateFromFiles.train_inputs='{R}/ok.txt' "
     "--gin_param=TranslateFromFiles.train_targets='{R}/latin1.txt' "
     "--gin_param=TranslateFromFiles.dev_inputs='{R}/ok.txt' --gin_param=TranslateFromFiles.dev_targets='{R}/ok.txt' "
     "--gin_param=TranslateFromFiles.vocab_type='character'", "latin1.txt:2: not UTF-8"),
    ("datagen_classification_missing_file", "t2x_datagen", "--problem=text_classification_from_files "
     "--data_dir={R}/dec_g10 --gin_param=TextClassificationFromFiles.train='{R}/none.txt' "
     "--gin_param=TextClassificationFromFiles.dev='{R}/ok.txt'",
     "TextClassificationFromFiles.train={R}/none.txt: no such file"),
    # TFDS names and splits
    ("datagen_tfds_unknown_config", "t2x_datagen", "--problem=tfds:mnist/nope --tfds_data_dir={R}/dec_tfds_none "
     "--data_dir={R}/dec_g11", "tfds:mnist/nope: mnist has no configs (no /nope): --problem=tfds:mnist"),
    ("datagen_tfds_unknown_version", "t2x_datagen", "--problem=tfds:mnist:99.0.0 "
     "--tfds_data_dir={R}/dec_tfds_none --data_dir={R}/dec_g12",
     "tfds:mnist:99.0.0: mnist has no version 99.0.0; it has 3.0.1: --problem=tfds:mnist:3.0.1"),
    ("datagen_tfds_not_a_version", "t2x_datagen", "--problem=tfds:mnist:latest "
     "--tfds_data_dir={R}/dec_tfds_none --data_dir={R}/dec_g13", "'latest' is not a version"),
    ("trainer_tfds_bad_dev_slice", "t2x_trainer", "--problem=tfds:dec_tiny_tfds --model=basic_fc_relu "
     "--hparams_set=basic_fc_tiny " + TFDS + " --output_dir={R}/dec_o2 "
     "--gin_param=TfdsProblem.dev_split='train[:abc]'",
     "TfdsProblem.dev_split='train[:abc]': Error parsing split 'train[:abc]'; its splits: "),
    ("trainer_tfds_unknown_dev_split", "t2x_trainer", "--problem=tfds:dec_tiny_tfds --model=basic_fc_relu "
     "--hparams_set=basic_fc_tiny " + TFDS + " --output_dir={R}/dec_o3 "
     "--gin_param=TfdsProblem.dev_split='nosuchsplit'",
     "Unknown split 'nosuchsplit'"),
    ("datagen_tfds_unknown_train_split", "t2x_datagen", "--problem=tfds:dec_tiny_tfds " + TFDS + " "
     "--gin_param=TfdsProblem.train_split='nosuchsplit'", "TfdsProblem.train_split='nosuchsplit': Unknown split"),
    ("trainer_tfds_empty_slice", "t2x_trainer", "--problem=tfds:dec_tiny_tfds --model=basic_fc_relu "
     "--hparams_set=basic_fc_tiny " + TFDS + " --output_dir={R}/dec_o4 "
     "--gin_param=TfdsProblem.train_split='train[5:2]'",
     "TfdsProblem.train_split='train[5:2]' selects no examples"),
]

# Names under the scratch root that the refused cases must not create.
WROTE_NOTHING = ("dec_o1", "dec_o2", "dec_o3", "dec_o4", "dec_out1.txt", "dec_out2.txt", "dec_out3.txt",
                 "dec_g1", "dec_g2", "dec_g3", "dec_g4", "dec_g5", "dec_g6", "dec_g11", "dec_g12", "dec_g13",
                 "dec_tfds_none", "empty/out.txt")

TFDS_BUILDER = textwrap.dedent('''
    import numpy as np
    import tensorflow_datasets as tfds


    class DecTinyTfds(tfds.core.GeneratorBasedBuilder):
        """Image + ClassLabel, train and test splits (no validation)."""
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return self.dataset_info_from_configs(
                features=tfds.features.FeaturesDict({"image": tfds.features.Image(shape=(4, 4, 1)),
                                                     "label": tfds.features.ClassLabel(names=["a", "b"])}),
                supervised_keys=("image", "label"))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(8), "test": self._generate_examples(4)}

        def _generate_examples(self, n):
            for i in range(n):
                yield i, {"image": np.full((4, 4, 1), i * 20, np.uint8), "label": i % 2}
    ''')


def setup(root, marks, env):
    """Trains a tiny_algo run (2 steps) and prepares a tiny TFDS dataset, at once; writes
    the decoder's input files."""
    dec = root / "dec"
    dec.mkdir()
    (dec / "blank.txt").write_text("\n  \n\n")
    (dec / "words.txt").write_text("0 1 1\nhello world\n")
    (dec / "seven.txt").write_text("0 1 7\n")
    (dec / "ok.txt").write_text("0 1 1 0\n")
    usr = root / "dec_tfds_usr"
    usr.mkdir()
    (usr / "__init__.py").write_text(TFDS_BUILDER)
    trainer = [sys.executable, "-m", "t2x.scripts.t2x_trainer", "--model=transformer",
               "--hparams_set=transformer_test", "--train_steps=2", "--save_checkpoints_steps=2",
               "--schedule=train", "--hparams=batch_size=64"]
    jobs = {
        "algo": trainer + ["--generate_data", "--problem=tiny_algo", f"--data_dir={root / 'dec_algo_data'}",
                           f"--output_dir={root / 'dec_algo_run'}"],
        "tfds": [sys.executable, "-m", "t2x.scripts.t2x_datagen", "--problem=tfds:dec_tiny_tfds",
                 f"--t2x_usr_dir={usr}", f"--tfds_data_dir={root / 'dec_tfds'}",
                 f"--data_dir={root / 'dec_tfds_data'}"],
    }
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    running = {name: subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                      cwd=repo) for name, args in jobs.items()}
    for name, process in running.items():
        _, err = process.communicate(timeout=240)
        assert process.returncode == 0, (name, err[-3000:])
    marks["{ALGO}"] = str(root / "dec_algo_run")
