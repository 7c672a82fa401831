"""A bounded memory of recent exchanges, for causes that span several flows.

Some refusals are explained only by what came before them: a redirect that made
the client drop its credentials, a token that was accepted a minute ago, the
same refused key sent again and again. The addon feeds every flow through
``History.record`` (a flow that is neither a redirect, a refusal nor a success
with credentials leaves nothing behind) and hands each refused flow's evidence a
``Recall``: the part of the history that concerns that request.

Pure data and functions: no mitmproxy import, no clock. Every time is a
request's own timestamp, so replaying a recording (``mitmdump -nr``) rebuilds
the same history and reaches the same verdicts.

Memory is bounded whatever the traffic:

- at most ``MAX_PLACES`` (client, origin) pairs, least recently used dropped
  first; each keeps at most ``ACCEPTED_PER_PLACE`` accepted credentials (by
  fingerprint) and the last ``REFUSALS_PER_PLACE`` refusals;
- at most ``MAX_CLIENTS`` clients, each with its last ``REDIRECTS_PER_CLIENT``
  redirects that carried credentials.

Filled to every cap it holds about 10 MB (measured with tracemalloc).
Credentials are kept as fingerprints only (see ``redact.fingerprint``), never
as values. Cookies are not tracked: session cookies have their own cause.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from authdiag import memo

MAX_PLACES = 512
ACCEPTED_PER_PLACE = 16
REFUSALS_PER_PLACE = 32
MAX_CLIENTS = 256
REDIRECTS_PER_CLIENT = 16

REDIRECT_WINDOW = 60.0
"""Seconds within which a request counts as following an earlier redirect."""

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Credential:
    """One credential a request carried, named by where it was and a fingerprint."""

    label: str
    """Where it travelled: 'Authorization: Bearer', "header 'X-API-Key'", ..."""
    fingerprint: str


@dataclass(slots=True)
class Exchange:
    """The few facts the history keeps of one flow (built by ``observe``).

    Not frozen, though nothing changes one once it is made: one is made for
    every flow that carried a credential, and a frozen dataclass takes three
    times as long to make."""

    client: str
    """The client's address (without port: a client opens many connections)."""
    origin: str
    """'scheme://host:port' of the request, port always explicit."""
    method: str
    path: str
    """The path without the query (queries may hold credentials)."""
    target: str
    """Origin, path and query: what a redirect's Location is compared with."""
    at: float
    """When the request was sent (epoch seconds)."""
    status: int
    credentials: tuple[Credential, ...] = ()
    location: str | None = None
    """For a redirect: its Location, resolved and normalised like ``target``."""
    challenge: str = ""
    """The lower-cased scheme of the response's first WWW-Authenticate challenge."""

    @property
    def fingerprints(self) -> frozenset[str]:
        return frozenset(c.fingerprint for c in self.credentials)

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status < 300 or self.status == 304

    @property
    def redirected(self) -> bool:
        return self.status in REDIRECT_STATUSES and self.location is not None


@dataclass(frozen=True, slots=True)
class CredentialUse:
    """How often one credential was accepted at one origin by one client."""

    credential: Credential
    count: int
    first_at: float
    last_at: float
    last_method: str
    last_path: str
    last_status: int


@dataclass(frozen=True, slots=True)
class PastRefusal:
    """An earlier refusal at the same origin for the same client."""

    at: float
    method: str
    path: str
    status: int
    fingerprints: frozenset[str]
    challenge: str


@dataclass(frozen=True, slots=True)
class Redirect:
    """A redirect a client was given while it carried credentials."""

    at: float
    status: int
    source: str
    """Origin and path of the request that was redirected (no query)."""
    source_origin: str
    target: str
    credentials: tuple[Credential, ...]
    """What the first request of the redirect chain carried."""
    hops: int = 1


@dataclass(frozen=True, slots=True)
class Recall:
    """What the history holds about one request, all of it from before it."""

    credentials: tuple[Credential, ...] = ()
    """What this request carried, fingerprinted the way the history is."""
    accepted: tuple[CredentialUse, ...] = ()
    """Earlier acceptances, at this origin, of a credential this request carries."""
    refusals: tuple[PastRefusal, ...] = ()
    """Earlier refusals at this origin for this client, oldest first."""
    redirect: Redirect | None = None
    """The redirect to another origin that this request followed, if any."""


@dataclass(slots=True)
class _Acceptance:
    """The running tally behind a CredentialUse, updated in place: an app sends
    the same credential with every request, and each success adds to it."""

    credential: Credential
    count: int
    first_at: float
    last: tuple[float, str, str, int]
    """When, with which method, on which path and with which status it was
    last accepted."""

    def use(self) -> CredentialUse:
        at, method, path, status = self.last
        return CredentialUse(
            self.credential, self.count, self.first_at, at, method, path, status
        )


@dataclass(slots=True)
class _Place:
    """What one client did at one origin."""

    accepted: OrderedDict[str, _Acceptance]
    refusals: deque[PastRefusal]


class History:
    """Recent exchanges per client and origin, bounded (see the module's caps)."""

    def __init__(
        self,
        *,
        max_places: int = MAX_PLACES,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        self.max_places = max_places
        self.max_clients = max_clients
        self._places: OrderedDict[tuple[str, str], _Place] = OrderedDict()
        self._redirects: OrderedDict[str, deque[Redirect]] = OrderedDict()

    def __len__(self) -> int:
        """How many (client, origin) places are remembered."""
        return len(self._places)

    def record(self, exchange: Exchange, *, refused: bool) -> None:
        """Remember what later rules need of one finished exchange."""
        if refused:
            self._place(exchange).refusals.append(_refusal(exchange))
        elif exchange.succeeded and exchange.credentials:
            self._remember_acceptance(exchange)
        if exchange.redirected:
            self._remember_redirect(exchange)

    def recall(self, exchange: Exchange) -> Recall:
        """The history relevant to ``exchange``, from before its request time."""
        place = self._places.get((exchange.client, exchange.origin))
        accepted: tuple[CredentialUse, ...] = ()
        refusals: tuple[PastRefusal, ...] = ()
        if place is not None:
            fingerprints = exchange.fingerprints
            # A credential accepted again after this request did not stop working:
            # only uses wholly before it count (a re-diagnosed flow stays honest).
            accepted = tuple(
                tally.use()
                for key, tally in place.accepted.items()
                if key in fingerprints and tally.last[0] < exchange.at
            )
            refusals = tuple(r for r in place.refusals if r.at < exchange.at)
        return Recall(
            credentials=exchange.credentials,
            accepted=accepted,
            refusals=refusals,
            redirect=self._redirect_to(exchange),
        )

    # --- keeping it bounded ----------------------------------------------------------

    def _place(self, exchange: Exchange) -> _Place:
        key = (exchange.client, exchange.origin)
        place = self._places.get(key)
        if place is None:
            place = _Place(OrderedDict(), deque(maxlen=REFUSALS_PER_PLACE))
            self._places[key] = place
            if len(self._places) > self.max_places:
                self._places.popitem(last=False)
        else:
            self._places.move_to_end(key)
        return place

    def _remember_acceptance(self, exchange: Exchange) -> None:
        accepted = self._place(exchange).accepted
        last = (exchange.at, exchange.method, exchange.path, exchange.status)
        for credential in exchange.credentials:
            tally = accepted.get(credential.fingerprint)
            if tally is None:
                accepted[credential.fingerprint] = _Acceptance(
                    credential, 1, exchange.at, last
                )
                if len(accepted) > ACCEPTED_PER_PLACE:
                    accepted.popitem(last=False)
                continue
            accepted.move_to_end(credential.fingerprint)
            tally.credential = credential  # where it travelled this time
            tally.count += 1
            tally.last = last

    def _remember_redirect(self, exchange: Exchange) -> None:
        assert exchange.location is not None
        # A chain A -> B -> C: the request to B already lost its credentials, so
        # the redirect from B inherits what the request to A carried.
        earlier = self._redirect_to(exchange)
        carried = exchange.credentials or (earlier.credentials if earlier else ())
        if not carried:
            return
        redirect = Redirect(
            at=exchange.at,
            status=exchange.status,
            source=exchange.origin + exchange.path,
            source_origin=earlier.source_origin if earlier else exchange.origin,
            target=exchange.location,
            credentials=carried,
            hops=earlier.hops + 1 if earlier and not exchange.credentials else 1,
        )
        redirects = self._redirects.get(exchange.client)
        if redirects is None:
            redirects = deque(maxlen=REDIRECTS_PER_CLIENT)
            self._redirects[exchange.client] = redirects
            if len(self._redirects) > self.max_clients:
                self._redirects.popitem(last=False)
        else:
            self._redirects.move_to_end(exchange.client)
        redirects.append(redirect)

    def _redirect_to(self, exchange: Exchange) -> Redirect | None:
        """The latest cross-origin redirect to this request's URL, if recent."""
        for redirect in reversed(self._redirects.get(exchange.client, ())):
            age = exchange.at - redirect.at
            if (
                redirect.target == exchange.target
                and 0 <= age <= REDIRECT_WINDOW
                and redirect.source_origin != exchange.origin
            ):
                return redirect
        return None


def _refusal(exchange: Exchange) -> PastRefusal:
    return PastRefusal(
        at=exchange.at,
        method=exchange.method,
        path=exchange.path,
        status=exchange.status,
        fingerprints=exchange.fingerprints,
        challenge=exchange.challenge,
    )


# --- URLs ---------------------------------------------------------------------------


def origin_of(scheme: str, host: str, port: int) -> str:
    """'scheme://host:port' with the port always explicit (RFC 6454 §4), an
    IPv6 address in brackets."""
    host = f"[{host}]" if ":" in host else host
    return f"{scheme.lower()}://{host.lower()}:{port}"


def resolve_location(base: str, location: str) -> str | None:
    """A Location header resolved against the request URL (RFC 9110 §10.2.2) and
    normalised like ``Exchange.target``; None when it is not an HTTP(S) URL."""
    try:
        resolved = urljoin(base, location.strip())
    except ValueError:
        return None
    split = split_url(resolved)
    return split[0] + split[1] if split else None


@memo.recent(256, 2048)
def split_url(url: str) -> tuple[str, str] | None:
    """An absolute HTTP(S) URL as (origin, path and query), fragment dropped;
    None for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:  # a port that is not a number, an invalid IPv6 literal
        return None
    if parts.scheme.lower() not in DEFAULT_PORTS or not parts.hostname or not port:
        return None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return origin_of(parts.scheme, parts.hostname, port), path


def what_changed(source_origin: str, target: str) -> str:
    """Which parts of the origin a redirect changed: 'host', 'port', 'scheme'."""
    before, after = urlsplit(source_origin), urlsplit(target)
    changed = [
        name
        for name, old, new in (
            ("scheme", before.scheme, after.scheme),
            ("host", before.hostname, after.hostname),
            ("port", before.port, after.port),
        )
        if old != new
    ]
    return " and ".join(changed) or "nothing"
