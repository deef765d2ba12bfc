"""The bad-input catalogue's cases for decoding (see test_bad_inputs.py)."""

# (case id, binary module, args, text the last stderr line must contain); marks as there.
CASES = []

# Names under the scratch root that the refused cases must not create.
WROTE_NOTHING = ()


def setup(root, marks, env):
    """Makes this area's scratch files under root (a pathlib.Path); may add marks."""
    del root, marks, env
