"""t2x: Tensor2Tensor reborn on TensorFlow 2 and Keras 3.

One distribution, one namespace. The card's four catalogue folders live at the
top of the repository but install under ``t2x`` (see ``package_dir``), so that
``problems`` or ``models`` never collide with other software in site-packages.
"""

import setuptools

_CATALOGUE = {
    "t2x.problems": "problems",
    "t2x.models": "models",
    "t2x.hparams": "hparams",
    "t2x.scripts": "scripts",
}

_CORE_PACKAGES = setuptools.find_packages(include=["t2x", "t2x.*"])

setuptools.setup(
    name="t2x",
    version="0.1.0",
    description="Tensor2Tensor-style research framework on TensorFlow 2 and Keras 3",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=_CORE_PACKAGES + sorted(_CATALOGUE),
    package_dir={"": ".", **_CATALOGUE},
    install_requires=[
        "absl-py>=2.1",
        "gin-config>=0.5",
        "keras>=3.10",
        "numpy>=1.26",
        "sacrebleu>=2.4",  # the one BLEU scorer (t2x-bleu, eval/bleu)
        "rouge-score>=0.1.2",  # eval rouge_1/rouge_2/rouge_L
        "rapidfuzz>=3",  # eval edit_distance/wer (Levenshtein)
        "sentencepiece>=0.2",  # vocab_type="sentencepiece"
        "tensorboard>=2.16",
        "tensorflow-datasets>=4.9",
        # TFDS imports it in download_and_prepare but does not declare it.
        "importlib_resources>=6",
    ],
    extras_require={
        # Pick one: the CPU build on machines without a GPU, the full build otherwise.
        "cpu": ["tensorflow-cpu>=2.21,<2.22"],
        "gpu": ["tensorflow[and-cuda]>=2.21,<2.22"],
        # the suite runs on 2 workers (-n 2) and runs TF Lite exports in ai_edge_litert
        "test": ["pytest>=8", "pytest-xdist>=3", "ai-edge-litert>=2.0", "optuna>=4", "soundfile>=0.12", "soxr>=0.3"],
        # Export: the maintained TF Lite interpreter. TF.js's converter is installed apart,
        # without its dependencies (they would replace TF 2.21 by 2.19): see the README.
        "export": ["ai-edge-litert>=2.0", "h5py>=3"],
        # t2x-datagen --beam. 2.77 is the release tested beside TF 2.21: it installs protobuf
        # 6.33 (TF 2.21 takes >=6.31.1,<8), numpy and TensorFlow untouched.
        "beam": ["apache-beam>=2.77,<3"],
        # t2x-tuner: Optuna's samplers, pruners and RDB-backed studies (SQLite by default).
        "tune": ["optuna>=4"],
        # Speech problems: WAV/FLAC reading (libsndfile) and resampling, imported lazily.
        "audio": ["soundfile>=0.12", "soxr>=0.3"],
    },
    package_data={"t2x.export": ["tfjs_page.html"], "t2x.inference": ["attention_page/*"]},
    entry_points={
        "console_scripts": [
            "t2x-datagen=t2x.scripts.t2x_datagen:run_main",
            "t2x-trainer=t2x.scripts.t2x_trainer:run_main",
            "t2x-decoder=t2x.scripts.t2x_decoder:run_main",
            "t2x-bleu=t2x.scripts.t2x_bleu:run_main",
            "t2x-avg-checkpoints=t2x.scripts.t2x_avg_checkpoints:run_main",
            "t2x-exporter=t2x.scripts.t2x_exporter:run_main",
            "t2x-tuner=t2x.scripts.t2x_tuner:run_main",
        ],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
