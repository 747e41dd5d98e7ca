"""The invalid-template corpus: each file in invalid/ states the finding it must produce.

Header lines `# loc: <loc>` and `# msg: <fragment>` (pairs; several allowed).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.language import validate_template
from workflows.language.loader import load_document

CORPUS = sorted((Path(__file__).parent / "invalid").glob("*.yaml"))


def _expectations(text: str) -> list[tuple[str, str]]:
    locs = [
        line[len("# loc:") :].strip() for line in text.splitlines() if line.startswith("# loc:")
    ]
    msgs = [
        line[len("# msg:") :].strip() for line in text.splitlines() if line.startswith("# msg:")
    ]
    assert locs and len(locs) == len(msgs), "corpus file needs # loc: / # msg: pairs"
    return list(zip(locs, msgs, strict=True))


def test_corpus_is_big_enough() -> None:
    assert len(CORPUS) >= 40


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_invalid_template_is_rejected_precisely(path: Path) -> None:
    text = path.read_text()
    result = validate_template(load_document(text))
    assert not result.ok and result.template is None
    got = [(f.loc, f.msg) for f in result.findings]
    for loc, fragment in _expectations(text):
        assert any(floc == loc and fragment in msg for floc, msg in got), (
            f"expected a finding at {loc!r} containing {fragment!r}; got {got}"
        )
    # a precise message, never a traceback
    assert all("Traceback" not in msg and "internal error" not in msg for _, msg in got)
