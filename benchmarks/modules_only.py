"""A mitmproxy script that imports what addon/diag.py imports and adds no addon.

The third side of benchmarks/live_overhead.py: a mitmdump that carries authdiag's
modules (and pyjwt's and cryptography's) in memory but calls none of its hooks.
Its CPU per request, against a plain mitmdump's, is what the modules cost by
being there (a bigger heap for the garbage collector to walk, say); against the
full addon's, what running the hooks costs beyond the hooks' own timed time.
"""

from __future__ import annotations

import sys
from pathlib import Path

# mitmproxy puts this script's folder on sys.path, not addon/ where the package is.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "addon"))

# Loaded for its weight and never called: the same import as diag.py's, which
# brings in the engine and registers the rules.
import authdiag.addon  # noqa: F401

addons: list[object] = []
