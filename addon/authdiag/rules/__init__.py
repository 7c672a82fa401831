"""The rules, one function per cause, registered in the catalogue on import.

Rules are pure functions of the evidence. Each looks at the request, the
challenge and the body together, says which of them its verdict rests on (each
evidence line starts with its source), and gives a fix a developer can follow.
"""

import importlib

RULE_MODULES = (
    "exchange",
    "client_certs",
    "shapes",
    "platforms",
    "crossflow",
    "tokens",
    "secrets",
    "sessions",
    "retries",
)
"""Imported in this order, which is the catalogue order: it breaks ties in ranking,
so specific causes come before the generic ones. Platform signatures come before
the token causes they refine; retries come last because a retry storm describes
how the client behaves after a refusal, not why it was refused."""

for _module in RULE_MODULES:
    importlib.import_module(f"{__name__}.{_module}")
