"""The bad-input catalogue's cases for training (see test_bad_inputs.py): t2x-trainer's and
t2x-tuner's flags, damaged runs, hparam ranges, warm starting and the tuner's storage."""

import shutil

IMG = "{USR} --problem=image_tiny_digits --model=my_dense_net --data_dir={R}/data --tmp_dir={R}/raw"
TUNE = ("--problem=image_mnist --model=basic_fc_relu --hparams_set=basic_fc_small "
        "--hparams_range=basic_fc_range")

# (case id, binary module, args, text the last stderr line must contain); marks as there.
CASES = [
    # hparams out of range: refused before any data or run is written
    ("trainer_batch_size_int32", "t2x_trainer", IMG + " --hparams=batch_size=1000000000000 --output_dir={R}/tr1",
     "hparam batch_size=1000000000000 is out of range: batch_size must be >= 1 and <= 2147483647 "
     "(2**31 - 1, TensorFlow's int32)"),
    ("trainer_hidden_size_negative", "t2x_trainer", IMG + " --hparams=hidden_size=-2 --output_dir={R}/tr2",
     "hparam hidden_size=-2 is out of range: hidden_size must be >= 1"),
    ("trainer_dropout_one", "t2x_trainer", IMG + " --hparams=dropout=1.0 --output_dir={R}/tr3",
     "hparam dropout=1.0 is out of range: dropout must be in [0.0, 1.0) (a probability"),
    ("trainer_learning_rate_negative", "t2x_trainer", IMG + " --hparams=learning_rate=-0.1 --output_dir={R}/tr4",
     "hparam learning_rate=-0.1 is out of range: learning_rate must be >= 0.0 (a rate"),
    ("trainer_no_layers", "t2x_trainer", IMG + " --hparams=num_hidden_layers=0 --output_dir={R}/tr5",
     "hparam num_hidden_layers=0 is out of range"),
    ("trainer_max_length_negative", "t2x_trainer", IMG + " --hparams=max_length=-1 --output_dir={R}/tr6",
     "hparam max_length=-1 is out of range"),
    ("trainer_packed_batch_below_length", "t2x_trainer",
     "--problem=tiny_algo --model=transformer --hparams_set=transformer_test --data_dir={R}/tr_data "
     "--hparams=packed=true,packed_length=256,batch_size=16 --output_dir={R}/tr7",
     "packed=true with batch_size=16 < packed_length=256: a packed batch holds batch_size // packed_length rows"),
    # damaged or unwritable runs
    ("trainer_hparams_json_damaged", "t2x_trainer", IMG + " --output_dir={R}/tr_badjson",
     "tr_badjson/hparams.json is damaged, not JSON"),
    ("trainer_output_dir_unwritable", "t2x_trainer", IMG + " --output_dir={R}/a_file/run",
     "--output_dir={R}/a_file/run cannot be written (Not a directory): free disk space, fix its permissions"),
    # warm starting
    ("trainer_warm_start_missing", "t2x_trainer", IMG + " --warm_start_from={R}/nowhere --output_dir={R}/tr8",
     "--warm_start_from={R}/nowhere: neither a run directory nor a checkpoint prefix"),
    ("trainer_warm_start_other_model", "t2x_trainer",
     IMG + " --train_steps=1 --warm_start_from={TEXT_RUN} --output_dir={R}/tr9",
     "--warm_start_from={TEXT_RUN}: none of the 4 weights of this my_dense_net matched a weight of "
     "{TEXT_RUN}/ckpt-2 (a transformer) by name and shape"),
    ("trainer_warm_start_empty_run", "t2x_trainer", IMG + " --warm_start_from={R}/empty --output_dir={R}/tr10",
     "--warm_start_from={R}/empty: no checkpoint in"),
    # every other flag of t2x-trainer
    ("trainer_random_seed_abc", "t2x_trainer", IMG + " --random_seed=abc", "--random_seed"),
    ("trainer_random_seed_negative", "t2x_trainer", IMG + " --random_seed=-1 --output_dir={R}/tr11",
     "--random_seed=-1 must be >= 0"),
    ("trainer_tfds_data_dir_file", "t2x_trainer", IMG + " --tfds_data_dir={R}/a_file",
     "--tfds_data_dir={R}/a_file is a file, not a directory"),
    ("trainer_generate_data_maybe", "t2x_trainer", IMG + " --generate_data=maybe", "--generate_data"),
    ("trainer_eval_steps_negative", "t2x_trainer", IMG + " --eval_steps=-1 --output_dir={R}/tr12",
     "eval_steps (-1) must be >= 0"),
    ("trainer_save_checkpoints_steps_0", "t2x_trainer", IMG + " --save_checkpoints_steps=0 --output_dir={R}/tr13",
     "save_checkpoints_steps must be >= 1, got 0"),
    ("trainer_keep_checkpoint_max_negative", "t2x_trainer", IMG + " --keep_checkpoint_max=-1 --output_dir={R}/tr14",
     "keep_checkpoint_max must be >= 1, got -1"),
    ("trainer_log_every_0", "t2x_trainer", IMG + " --log_every=0 --output_dir={R}/tr15", "log_every must be >= 1, got 0"),
    ("trainer_allow_config_change_maybe", "t2x_trainer", IMG + " --allow_config_change=maybe",
     "--allow_config_change"),
    ("trainer_num_processes_0", "t2x_trainer", IMG + " --num_processes=0 --output_dir={R}/tr16",
     "--num_processes must be an integer >= 1, got 0"),
    ("trainer_eval_decode_examples_negative", "t2x_trainer",
     IMG + " --eval_decode_examples=-1 --output_dir={R}/tr17", "--eval_decode_examples=-1 must be >= 0"),
    ("trainer_eval_decode_split_unknown", "t2x_trainer", IMG + " --eval_decode_split=nosuch --output_dir={R}/tr18",
     "--eval_decode_split='nosuch' is not a split of image_tiny_digits (its splits: train, dev)"),
    ("trainer_bleu_tokenize_moses", "t2x_trainer", IMG + " --bleu_tokenize=moses", "--bleu_tokenize"),
    ("trainer_xla_maybe", "t2x_trainer", IMG + " --xla=maybe", "--xla"),
    ("trainer_keep_best_checkpoint_maybe", "t2x_trainer", IMG + " --keep_best_checkpoint=maybe",
     "--keep_best_checkpoint"),
    # t2x-tuner: storage, objective and every other flag
    ("tuner_storage_malformed", "t2x_tuner", TUNE + " --storage=not-a-url --output_dir={R}/tt1",
     "--storage='not-a-url' is not a database URL"),
    ("tuner_storage_missing_folder", "t2x_tuner",
     TUNE + " --storage=sqlite:///{R}/nofolder/study.db --output_dir={R}/tt2",
     "the folder {R}/nofolder does not exist"),
    ("tuner_storage_no_driver", "t2x_tuner", TUNE + " --storage=postgresql://t2x@127.0.0.1/study --output_dir={R}/tt3",
     "its driver is not installed"),
    ("tuner_storage_unknown_scheme", "t2x_tuner", TUNE + " --storage=nosuchdb://x/y --output_dir={R}/tt4",
     "no database driver for 'nosuchdb'"),
    ("tuner_objective_not_reported", "t2x_tuner", TUNE + " --objective=eval/bleu --output_dir={R}/tt5",
     "--objective=eval/bleu is not reported by image_mnist with basic_fc_relu (its trials report eval/loss"),
    ("tuner_objective_goal_x", "t2x_tuner", TUNE + " --objective_goal=x --output_dir={R}/tt6", "--objective_goal"),
    ("tuner_study_name_empty", "t2x_tuner", TUNE + " --study_name= --output_dir={R}/tt7",
     "--study_name must not be empty"),
    ("tuner_parallel_0", "t2x_tuner", TUNE + " --parallel=0 --output_dir={R}/tt8", "--parallel must be an integer >= 1"),
    ("tuner_pruner_x", "t2x_tuner", TUNE + " --pruner=x --output_dir={R}/tt9", "--pruner"),
    ("tuner_train_steps_0", "t2x_tuner", TUNE + " --train_steps=0 --output_dir={R}/tt10",
     "--train_steps must be an integer >= 1"),
    ("tuner_eval_every_0", "t2x_tuner", TUNE + " --eval_every=0 --output_dir={R}/tt11",
     "--eval_every must be an integer >= 1"),
    ("tuner_eval_steps_negative", "t2x_tuner", TUNE + " --eval_steps=-1 --output_dir={R}/tt12",
     "--eval_steps must be an integer >= 0"),
    ("tuner_hparams_out_of_range", "t2x_tuner", TUNE + " --hparams=hidden_size=-2 --output_dir={R}/tt13",
     "hparam hidden_size=-2 is out of range"),
    ("tuner_random_seed_abc", "t2x_tuner", TUNE + " --random_seed=abc --output_dir={R}/tt14", "--random_seed"),
    ("tuner_tfds_data_dir_file", "t2x_tuner", TUNE + " --tfds_data_dir={R}/a_file --output_dir={R}/tt15",
     "--tfds_data_dir={R}/a_file is a file, not a directory"),
    ("tuner_no_usr_dir", "t2x_tuner", TUNE + " --t2x_usr_dir={R}/nowhere --output_dir={R}/tt16", "no such directory"),
    ("tuner_gin_syntax", "t2x_tuner", TUNE + " --gin_file={R}/bad.gin --output_dir={R}/tt17",
     "bad.gin:2: gin syntax error"),
    ("tuner_gin_unknown", "t2x_tuner", TUNE + " --gin_param=Traner.log_every=1 --output_dir={R}/tt18",
     "--gin_file/--gin_param: "),
    ("tuner_data_dir_file", "t2x_tuner", TUNE + " --data_dir={R}/a_file --tmp_dir={R}/raw --output_dir={R}/tt19",
     "--data_dir={R}/a_file is a file, not a directory"),
]

# Names under the scratch root that the refused cases must not create.
WROTE_NOTHING = tuple(f"tr{i}" for i in range(1, 19)) + ("tr_data",) + tuple(f"tt{i}" for i in range(1, 20)) + (
    "nofolder",)


def setup(root, marks, env):
    """A copy of the trained run whose hparams.json is damaged; {TEXT_RUN}: a transformer
    trained on tiny_algo (a run of another model and problem): the decoding area's {ALGO}
    (its setup runs first), reused rather than training another."""
    marks["{TEXT_RUN}"] = marks["{ALGO}"]
    run = marks["{RUN}"]
    shutil.copytree(run, root / "tr_badjson", ignore=shutil.ignore_patterns("lock"))
    (root / "tr_badjson" / "hparams.json").write_text('{"batch_size": 8, "hidden_si')
