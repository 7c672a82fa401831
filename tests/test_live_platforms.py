"""End to end: every platform's refusal, served by a local responder exactly as the
platform sends it, through a real mitmdump with the addon, from python-requests.

The responses come from tests/support/vendors.py (each with its source); nginx's
own pages are also produced by a real nginx in tests/test_live_crossflow.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
import requests
import trustme
from tests.support.proxy import Mitmdump, client_session, new_case
from tests.support.reports import rendered_reports
from tests.support.responders import VendorResponder
from tests.support.vendors import VENDOR_CASES, VendorCase


@pytest.fixture(scope="module")
def responder(trust_ca: trustme.CA) -> Iterator[VendorResponder]:
    with VendorResponder(trust_ca) as server:
        yield server


@pytest.fixture(scope="module")
def session(wide_mitmdump: Mitmdump) -> Iterator[requests.Session]:
    with client_session(wide_mitmdump) as session:
        yield session


@pytest.mark.parametrize("vendor", VENDOR_CASES, ids=[c.name for c in VENDOR_CASES])
def test_a_platform_refusal_through_the_proxy_is_named_by_its_signature(
    wide_mitmdump: Mitmdump,
    responder: VendorResponder,
    session: requests.Session,
    vendor: VendorCase,
) -> None:
    wide_mitmdump.ensure_running()
    case = new_case("vendor")
    separator = "&" if "?" in vendor.path else "?"
    query = urlencode({"vendor": vendor.name, "case": case})
    url = f"{responder.base_url}{vendor.path}{separator}{query}"
    now = time.time()
    response = session.request(
        vendor.method,
        url,
        headers=dict(vendor.request_headers(now)),
        allow_redirects=False,
    )

    assert response.status_code == vendor.status
    flow = wide_mitmdump.flow_for(case)
    findings = flow.metadata["authdiag"]["findings"]
    assert findings[0]["cause"] == vendor.cause, [f["cause"] for f in findings]
    wide_mitmdump.wait_for_record(vendor.cause)
    written = json.dumps(flow.metadata, default=repr) + flow.comment
    written += wide_mitmdump.log() + "".join(rendered_reports([flow]).values())
    for secret in vendor.secrets(now):
        assert secret not in written
