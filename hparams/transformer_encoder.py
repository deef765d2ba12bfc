"""Hparams sets of ``transformer_encoder`` (it also reads every Transformer set)."""

from t2x import registry

from t2x.hparams.transformer import transformer_base


@registry.register_hparams
def transformer_encoder_sentiment_tiny():
    """Sentence classification from scratch on a CPU (``text_classification_from_files``,
    a sentiment corpus): ``transformer_base`` at 2 layers, hidden 64, filter 256, 4 heads,
    dropout 0.1, no label smoothing, a 100-step warmup, batches of 2048 tokens of sentences
    up to 256 tokens."""
    hp = transformer_base()
    hp.num_hidden_layers = 2
    hp.hidden_size = 64
    hp.filter_size = 256
    hp.num_heads = 4
    hp.label_smoothing = 0.0
    hp.learning_rate_warmup_steps = 100
    hp.batch_size = 2048
    hp.max_length = 256
    return hp
