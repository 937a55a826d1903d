"""The code fingerprint of an estimator file: documentation edits leave it, code changes move it.

A result records the fingerprint of the code that scored it (``estimator.code_sha256``), so the
site marks a result whose estimator *code* changed since, and not one whose docstring or
published figures were edited (:func:`harness.trust.code_sha256`).
"""

from __future__ import annotations

import pytest

from harness.trust import code_sha256_of_text

BASE = '''"""An estimator."""

from harness.api import ArchContext, Published, estimator

PUBLISHED = (Published("kendall", 0.5, "nb201-c10", "all cells", "a paper"),)
SCALE = 2.0


@estimator(name="e", kind="zero-shot", idea="x", paper=None, published=PUBLISHED, version="1")
def score(ctx: ArchContext) -> float:
    """The score."""
    return SCALE * 3.0  # why: a comment
'''


def fp(text: str) -> str:
    return code_sha256_of_text(text)


@pytest.mark.parametrize("edit", [
    lambda s: s.replace('"""An estimator."""', '"""An estimator, better documented."""'),
    lambda s: s.replace('"""The score."""', '"""The score, explained."""'),
    lambda s: s.replace("# why: a comment", "# why: another comment"),
    lambda s: s.replace("0.5", "0.75"),  # a published figure
    # no published figures at all: the constant, the keyword and the import go together
    lambda s: s.replace("from harness.api import ArchContext, Published, estimator",
                        "from harness.api import ArchContext, estimator")
               .replace('PUBLISHED = (Published("kendall", 0.5, "nb201-c10", "all cells", '
                        '"a paper"),)\n', "")
               .replace(" published=PUBLISHED,", ""),
    lambda s: s.replace("return SCALE * 3.0", "return (SCALE\n            * 3.0)"),  # layout
    # figures from a table defined in the harness, imported for them alone
    lambda s: s.replace('(Published("kendall", 0.5, "nb201-c10", "all cells", "a paper"),)',
                        '(TABLE.figure("kendall", 0.5, "nb201-c10"),)')
               .replace("from harness.api import ArchContext, Published, estimator",
                        "from harness.api import ArchContext, estimator\n"
                        "from harness.papers import TABLE"),
], ids=["module docstring", "function docstring", "comment", "published value",
        "published removed", "layout", "published from a harness table"])
def test_documentation_edits_keep_the_fingerprint(edit):
    assert edit(BASE) != BASE
    assert fp(edit(BASE)) == fp(BASE)


@pytest.mark.parametrize("edit", [
    lambda s: s.replace("SCALE = 2.0", "SCALE = 2.5"),
    lambda s: s.replace("SCALE * 3.0", "SCALE * 3.0 + 1e-12"),
    lambda s: s.replace('version="1"', 'version="2"'),
    lambda s: s.replace('idea="x"', 'idea="y"'),
    # a constant that also feeds the score is code, even if it is published too
    lambda s: s.replace("return SCALE * 3.0", "return PUBLISHED[0].value"),
    lambda s: s.replace("from harness.api import", "import math\nfrom harness.api import"),
    lambda s: s.replace("from harness.api import", "from numpy import linalg\nfrom harness.api import"),
], ids=["constant", "expression", "version", "idea", "published constant used", "new import",
        "new unused import from elsewhere"])
def test_code_changes_move_the_fingerprint(edit):
    assert fp(edit(BASE)) != fp(BASE)


def test_a_syntax_error_is_raised_not_fingerprinted():
    with pytest.raises(SyntaxError):
        fp("def broken(:\n")
