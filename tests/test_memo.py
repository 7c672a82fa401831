"""Reuse of parse results (memo.recent) and of per-flow work (once_per_flow)."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.flows import refused_flow

from authdiag import evidence, memo
from authdiag.evidence import once_per_flow

Parser = Callable[..., tuple[object, ...]]


def counting_parser(
    maxsize: int = 4, max_input: int = 10
) -> tuple[list[tuple[object, ...]], Parser]:
    calls: list[tuple[object, ...]] = []

    @memo.recent(maxsize, max_input)
    def parse(*args: object) -> tuple[object, ...]:
        calls.append(args)
        return args

    return calls, parse


def test_a_small_input_seen_again_is_not_parsed_again() -> None:
    calls, parse = counting_parser()

    first = parse("abc", (b"de", None))
    again = parse("abc", (b"de", None))

    assert first == again == ("abc", (b"de", None))
    assert len(calls) == 1


def test_an_input_over_the_size_limit_is_parsed_every_time() -> None:
    calls, parse = counting_parser(max_input=10)
    large = ("x" * 6, ("y" * 5,))  # 11 characters in all

    parse(*large)
    parse(*large)

    assert len(calls) == 2


def test_inputs_that_cannot_be_keys_are_parsed_every_time() -> None:
    calls, parse = counting_parser()

    assert parse(["a"]) == (["a"],)
    assert parse(["a"]) == (["a"],)

    assert len(calls) == 2


def test_only_the_most_recent_inputs_are_kept() -> None:
    calls, parse = counting_parser(maxsize=2)

    for value in ("a", "b", "c", "a"):
        parse(value)

    assert [args[0] for args in calls] == ["a", "b", "c", "a"]


def test_every_cache_is_listed_for_the_memory_benchmark() -> None:
    before = len(memo.KEPT)
    counting_parser()
    assert len(memo.KEPT) == before + 1


def test_work_marked_once_per_flow_runs_once_for_each_evidence() -> None:
    calls: list[evidence.Evidence] = []

    @once_per_flow
    def lines(ev: evidence.Evidence) -> tuple[str, ...]:
        calls.append(ev)
        return (ev.url,)

    first = evidence.from_flow(refused_flow())
    second = evidence.from_flow(refused_flow())

    assert lines(first) == lines(first) == (first.url,)
    assert lines(second) == (second.url,)
    assert calls == [first, second]
