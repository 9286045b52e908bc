"""Every page under docs/ runs: its ```python blocks are executed in order, in one namespace per page,
and its relative links point at files that exist.

A block whose info string is ```python no-run is shown but not run (use it only for code that cannot
run in a test, such as a shell session). A page that calls a function of ``minidl.nn.functional``
which this build does not have yet is skipped, naming the function; the skip disappears by itself
as soon as the function exists.
"""

import re
from pathlib import Path

import matplotlib
import pytest

from minidl.nn import functional as F

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
CODE_BLOCK = re.compile(r"^```python([^\n]*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def page_id(page):
    return str(page.relative_to(DOCS))


def code_blocks(page):
    """(line number, code) of every block to run, in page order."""
    text = page.read_text()
    return [
        (text.count("\n", 0, match.start()) + 2, match.group(2))
        for match in CODE_BLOCK.finditer(text)
        if "no-run" not in match.group(1).split()
    ]


def missing_functional(error):
    """The name of the ``F`` function an AttributeError is about, if F really lacks it; else None."""
    if getattr(error, "obj", None) is F and not hasattr(F, error.name):
        return error.name
    return None


def test_there_are_docs_pages_with_code():
    assert PAGES and any(code_blocks(page) for page in PAGES)


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_code_on_page_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a page that writes files writes them here
    matplotlib.use("Agg")
    namespace = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    for line, code in code_blocks(page):
        try:
            exec(compile(code, f"{page}:{line}", "exec"), namespace)
        except AttributeError as error:
            name = missing_functional(error)
            if name is None:
                raise
            pytest.skip(f"{page_id(page)} uses F.{name}, which minidl.nn.functional does not have yet")


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_relative_links_resolve(page):
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.exists(), f"{page_id(page)} links to {target}, which does not exist"
