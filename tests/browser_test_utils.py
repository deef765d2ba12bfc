"""What the browser tests need: Node, Debian's Chromium and web/node_modules (playwright-core
and TF.js, installed by .ci/run). ``browser_or_skip`` skips a test without them, or fails it
where CI sets T2X_REQUIRE_BROWSER=1."""

import os
import shutil

import pytest

from conftest import REPO_ROOT

WEB = os.path.join(REPO_ROOT, "web")


def chromium_path():
    """The Chromium executable on PATH, or None."""
    return next(filter(None, (shutil.which(n) for n in ("chromium", "chromium-browser"))), None)


def browser_or_skip(**more_needs) -> str:
    """The Chromium path when node, Chromium, playwright-core and ``more_needs`` (name ->
    truthy when present) are all there; else a skip (a failure under T2X_REQUIRE_BROWSER)."""
    needs = {**more_needs, "node": shutil.which("node"), "chromium": chromium_path(),
             "web/node_modules": os.path.isdir(os.path.join(WEB, "node_modules", "playwright-core"))}
    missing = [k for k, v in needs.items() if not v]
    if missing:
        if os.environ.get("T2X_REQUIRE_BROWSER"):
            pytest.fail(f"missing for the browser test: {missing} (.ci/run installs them)")
        pytest.skip(f"the browser test needs {', '.join(missing)}: install them as .ci/run does (CI sets "
                    "T2X_REQUIRE_BROWSER=1, so there this test fails instead of skipping)")
    return needs["chromium"]
