"""Fingerprints and scrubbing: secrets never leave in full."""

from authdiag.redact import describe_password, describe_token, fingerprint, scrub

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
