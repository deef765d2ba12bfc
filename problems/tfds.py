"""``--problem=tfds:<name>[/<config>][:<version>]``: any TFDS dataset (``t2x.data.tfds_problem``)."""

from t2x.data.tfds_problem import TfdsProblem  # noqa: F401  (registers the tfds: prefix)
