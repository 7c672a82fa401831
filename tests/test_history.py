"""The bounded history of exchanges: what it keeps, what it recalls, its limits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authdiag.history import (
    ACCEPTED_PER_PLACE,
    REDIRECT_WINDOW,
    REFUSALS_PER_PLACE,
    Credential,
    Exchange,
    History,
    resolve_location,
    split_url,
    what_changed,
)

T = 1_780_000_000.0
TOKEN = Credential("Authorization: Bearer", "sha256:aaaaaaaa")
OTHER = Credential("Authorization: Bearer", "sha256:bbbbbbbb")
A = "https://a.example:443"
B = "https://b.example:443"


def exchange(
    at: float,
    status: int,
    *,
    origin: str = A,
    path: str = "/orders",
    credentials: tuple[Credential, ...] = (TOKEN,),
    location: str | None = None,
    client: str = "10.0.0.5",
    method: str = "GET",
) -> Exchange:
    return Exchange(
        client=client,
        origin=origin,
        method=method,
        path=path,
        target=origin + path,
        at=at,
        status=status,
        credentials=credentials,
        location=location,
    )


def test_a_success_with_a_credential_is_recalled_for_a_later_request() -> None:
    history = History()
    for offset in (0, 1, 2):
        history.record(exchange(T + offset, 200), refused=False)

    recall = history.recall(exchange(T + 10, 401))

    (use,) = recall.accepted
    assert (use.count, use.first_at, use.last_at) == (3, T, T + 2)
    assert (use.last_method, use.last_path, use.last_status) == ("GET", "/orders", 200)


def test_only_the_credentials_the_request_carries_are_recalled() -> None:
    history = History()
    history.record(exchange(T, 200, credentials=(OTHER,)), refused=False)

    assert history.recall(exchange(T + 10, 401)).accepted == ()


def test_nothing_after_the_request_is_recalled() -> None:
    # Re-diagnosing an old flow must not see what came after it.
    history = History()
    history.record(exchange(T + 20, 200), refused=False)
    history.record(exchange(T + 30, 401), refused=True)

    recall = history.recall(exchange(T + 10, 401))

    assert recall.accepted == ()
    assert recall.refusals == ()


def test_refusals_are_recalled_oldest_first_and_per_client() -> None:
    history = History()
    history.record(exchange(T, 401), refused=True)
    history.record(exchange(T + 1, 401, client="10.0.0.9"), refused=True)
    history.record(exchange(T + 2, 403), refused=True)

    refusals = history.recall(exchange(T + 5, 401)).refusals

    assert [r.at for r in refusals] == [T, T + 2]
    assert refusals[0].fingerprints == {TOKEN.fingerprint}


def test_a_cross_origin_redirect_is_recalled_by_the_request_that_followed_it() -> None:
    history = History()
    history.record(exchange(T, 302, location=B + "/data"), refused=False)

    recall = history.recall(
        exchange(T + 0.2, 401, origin=B, path="/data", credentials=())
    )

    assert recall.redirect is not None
    assert recall.redirect.source == A + "/orders"
    assert recall.redirect.credentials == (TOKEN,)


@pytest.mark.parametrize(
    ("delay", "origin", "client"),
    [
        pytest.param(REDIRECT_WINDOW + 1, B, "10.0.0.5", id="too-late"),
        pytest.param(0.2, A, "10.0.0.5", id="same-origin"),
        pytest.param(0.2, B, "10.0.0.9", id="another-client"),
    ],
)
def test_a_redirect_is_not_tied_to_an_unrelated_request(
    delay: float, origin: str, client: str
) -> None:
    history = History()
    history.record(exchange(T, 302, location=origin + "/data"), refused=False)

    later = exchange(T + delay, 401, origin=origin, path="/data", client=client)

    assert history.recall(later).redirect is None


def test_a_redirect_chain_keeps_what_its_first_request_carried() -> None:
    history = History()
    c = "https://c.example:443"
    history.record(exchange(T, 301, location=B + "/hop"), refused=False)
    hop = exchange(
        T + 0.1, 302, origin=B, path="/hop", credentials=(), location=c + "/"
    )
    history.record(hop, refused=False)

    final = exchange(T + 0.2, 401, origin=c, path="/", credentials=())
    redirect = history.recall(final).redirect

    assert redirect is not None
    assert redirect.credentials == (TOKEN,)
    assert redirect.source_origin == A
    assert redirect.hops == 2


def test_a_redirect_without_credentials_anywhere_is_not_kept() -> None:
    history = History()
    history.record(exchange(T, 302, credentials=(), location=B + "/"), refused=False)

    assert history.recall(exchange(T + 1, 401, origin=B, path="/")).redirect is None


def test_the_number_of_places_is_bounded_least_recently_used_first() -> None:
    history = History(max_places=3)
    for number in range(5):
        origin = f"https://host{number}.example:443"
        history.record(exchange(T + number, 401, origin=origin), refused=True)

    assert len(history) == 3
    oldest = exchange(T + 10, 401, origin="https://host0.example:443")
    newest = exchange(T + 10, 401, origin="https://host4.example:443")
    assert history.recall(oldest).refusals == ()
    assert len(history.recall(newest).refusals) == 1


def test_accepted_credentials_and_refusals_per_place_are_bounded() -> None:
    history = History()
    for number in range(ACCEPTED_PER_PLACE + 5):
        key = Credential("header 'X-API-Key'", f"sha256:{number:08x}")
        history.record(exchange(T + number, 200, credentials=(key,)), refused=False)
    for number in range(REFUSALS_PER_PLACE + 5):
        history.record(exchange(T + 100 + number, 401), refused=True)

    first_key = Credential("header 'X-API-Key'", f"sha256:{0:08x}")
    last_key = Credential("header 'X-API-Key'", f"sha256:{ACCEPTED_PER_PLACE + 4:08x}")
    later = T + 1000
    assert history.recall(exchange(later, 401, credentials=(first_key,))).accepted == ()
    assert history.recall(exchange(later, 401, credentials=(last_key,))).accepted
    assert len(history.recall(exchange(later, 401)).refusals) == REFUSALS_PER_PLACE


@pytest.mark.parametrize(
    ("base", "location", "expected"),
    [
        (
            "https://a.example/x",
            "https://b.example/y?z=1#f",
            "https://b.example:443/y?z=1",
        ),
        ("https://a.example/x/y", "../z", "https://a.example:443/z"),
        ("http://a.example:8080/x", "//A.EXAMPLE:9090", "http://a.example:9090/"),
        ("https://a.example/x", "ftp://files.example/", None),
        ("https://a.example/x", "https://a.example:notaport/", None),
        ("https://a.example/x", "http://[::1/", None),
    ],
)
def test_a_location_is_resolved_against_the_request_url(
    base: str, location: str, expected: str | None
) -> None:
    assert resolve_location(base, location) == expected


@given(st.text(), st.text())
def test_resolving_any_location_never_raises(base: str, location: str) -> None:
    resolved = resolve_location(base, location)
    assert resolved is None or split_url(resolved) is not None


@pytest.mark.parametrize(
    ("target", "changed"),
    [
        ("https://b.example:443/", "host"),
        ("https://a.example:8443/", "port"),
        ("http://a.example:80/", "scheme and port"),
    ],
)
def test_what_a_redirect_changed_is_named(target: str, changed: str) -> None:
    assert what_changed(A, target) == changed
