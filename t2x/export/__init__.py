"""Export floor (5): a trained run out of t2x as SavedModel, TF Lite or TF.js
(``exporter``: serving kinds and formats; ``tfjs_convert``: the TF.js converter process)."""
