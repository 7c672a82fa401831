"""Fingerprints and scrubbing: secrets never leave in full."""

from hypothesis import given
from hypothesis import strategies as st

from authdiag.redact import (
    describe_password,
    describe_token,
    fingerprint,
    scrub,
    scrub_lines,
)

TOKEN = "tok_live_0123456789abcdefghijklmnopqrstuvwxyz"


def test_a_fingerprint_is_stable_short_and_not_the_secret() -> None:
    assert fingerprint(TOKEN) == fingerprint(TOKEN)
    assert fingerprint(TOKEN).startswith("sha256:")
    assert len(fingerprint(TOKEN)) == len("sha256:") + 8
    assert fingerprint(TOKEN) != fingerprint(TOKEN + "x")


def test_a_long_token_shows_a_prefix_a_short_one_shows_none() -> None:
    assert describe_token(TOKEN).startswith("tok_… (")
    assert (
        describe_token("short-key-123") == f"(13 chars, {fingerprint('short-key-123')})"
    )


def test_a_password_shows_nothing_of_itself() -> None:
    shown = describe_password("hunter2-long-password")
    assert "hunt" not in shown
    assert "21 chars" in shown


def test_every_echo_of_a_secret_is_replaced_by_its_fingerprint() -> None:
    text = f"token {TOKEN} was refused; {TOKEN}"
    scrubbed = scrub(text, (TOKEN,))
    assert TOKEN not in scrubbed
    assert scrubbed.count(f"<{fingerprint(TOKEN)}>") == 2


def test_an_echo_cut_short_by_truncation_is_replaced_too() -> None:
    cut = f"invalid token {TOKEN[:30]}…"
    scrubbed = scrub(cut, (TOKEN,))
    assert TOKEN[:30] not in scrubbed
    assert scrubbed == f"invalid token <{fingerprint(TOKEN)}>…"


def test_text_that_merely_shares_a_start_with_a_secret_is_kept() -> None:
    text = f"see {TOKEN[:8]}-docs for help…"
    assert scrub(text, (TOKEN,)) == text


def test_secrets_too_short_to_matter_are_not_replaced_in_ordinary_words() -> None:
    assert scrub("the password is wrong", ("is",)) == "the password is wrong"


def test_the_lines_of_a_finding_are_scrubbed_each_as_scrub_does() -> None:
    lines = ["summary", f"body: 'bad token {TOKEN}'", f"cut {TOKEN[:12]}…", "fix"]
    assert scrub_lines(lines, (TOKEN,)) == [scrub(line, (TOKEN,)) for line in lines]
    assert scrub_lines(lines[2:], (TOKEN,))[0] == f"cut <{fingerprint(TOKEN)}>…"


@given(
    st.lists(st.text("ab\n…", max_size=12), max_size=5),
    st.lists(st.text("ab\n", min_size=1, max_size=10), max_size=3),
)
def test_scrubbing_lines_at_once_changes_nothing_but_the_cost(
    lines: list[str], secrets: list[str]
) -> None:
    ordered = tuple(sorted(set(secrets), key=len, reverse=True))
    assert scrub_lines(lines, ordered) == [scrub(line, ordered) for line in lines]
