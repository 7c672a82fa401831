"""authdiag for mitmproxy: `mitmdump -s addon/diag.py` (or mitmproxy / mitmweb).

mitmproxy puts this file's folder on sys.path while it loads it, so the
`authdiag` package next to it imports from a plain checkout.
"""

import logging

try:
    from authdiag.addon import AuthDiag
except ModuleNotFoundError as missing:
    if missing.name not in ("jwt", "cryptography"):
        raise
    package = "pyjwt" if missing.name == "jwt" else "cryptography"
    logging.getLogger("authdiag").error(
        "authdiag is not loaded: this mitmproxy's Python cannot import %s. "
        "With pipx: `pipx inject mitmproxy %s`; with a standalone mitmproxy binary, "
        "run from a checkout instead: `uv run mitmdump -s addon/diag.py`.",
        package,
        package,
    )
    addons = []
else:
    addons = [AuthDiag()]
