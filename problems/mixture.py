"""``--problem=mixture:<a>+<b>[+...]``: several problems trained as one (``t2x.data.mixture``)."""

from t2x.data.mixture import MixtureProblem  # noqa: F401  (registers the mixture: prefix)
