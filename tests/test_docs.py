"""The cause catalogue in docs/ is generated from the rules and stays in sync."""

from pathlib import Path

from authdiag import docs
from authdiag.catalogue import CAUSES

CAUSES_DOC = Path(__file__).parent.parent / "docs" / "causes.md"


def test_docs_causes_md_is_what_the_catalogue_generates() -> None:
    assert CAUSES_DOC.read_text(encoding="utf-8") == docs.render(), (
        "docs/causes.md is stale: run `uv run python -m authdiag.docs > docs/causes.md`"
    )


def test_every_cause_is_documented_with_trigger_evidence_and_fix() -> None:
    text = CAUSES_DOC.read_text(encoding="utf-8")
    for known in CAUSES:
        section = text.split(f"## `{known.id}`", 1)[1].split("\n## ", 1)[0]
        assert "**When:**" in section
        assert "**Evidence shown:**" in section
        assert "**Fix:**" in section


def test_cause_ids_are_stable_kebab_case_and_unique() -> None:
    ids = [known.id for known in CAUSES]
    assert len(ids) == len(set(ids))
    assert all(i == i.lower() and " " not in i and "_" not in i for i in ids)
