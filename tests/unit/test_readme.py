"""The README stays a newcomer's first read (short, two commands first) and the docs hold the depth:
every relative link in README.md and docs/*.md leads to a file, and a heading, that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MAX_LINES = 300
MAX_LINE_LENGTH = 400

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+).+?\1", re.DOTALL)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def documents() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def prose(text: str) -> str:
    """The text without its code: a link or heading inside a code block or span is not one."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def anchors(path: Path) -> set[str]:
    """The ids GitHub gives a Markdown file's headings: lower case, punctuation dropped, spaces
    as hyphens, a repeated one numbered (-1, -2, ...)."""
    seen: dict[str, int] = {}
    found = set()
    for line in FENCE.sub("", path.read_text(encoding="utf-8")).splitlines():
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not heading:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def broken_links(document: Path, root: Path = ROOT) -> list[str]:
    problems = []
    for target in LINK.findall(prose(document.read_text(encoding="utf-8"))):
        if SCHEME.match(target):
            continue
        name, _, anchor = target.partition("#")
        path = (document.parent / name).resolve() if name else document
        where = f"{document.relative_to(root)}: {target}"
        if not path.is_relative_to(root):
            problems.append(f"{where} leaves the repository (a clean clone has nothing there)")
        elif not path.exists():
            problems.append(f"{where} names no file")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            problems.append(f"{where}: {path.name} has no heading #{anchor}")
    return problems


def test_readme_is_a_few_minutes_read():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_LINES, f"README.md has {len(lines)} lines; the depth belongs in docs/"
    long = [f"line {number}: {len(line)} characters" for number, line in enumerate(lines, 1)
            if len(line) > MAX_LINE_LENGTH]
    assert not long, long


def test_readme_starts_with_make_run_and_make_test():
    first_block = FENCE.search(README.read_text(encoding="utf-8")).group(0).splitlines()
    commands = [line.split("#")[0].strip() for line in first_block[1:-1]]
    assert commands[:2] == ["make run", "make test"], first_block


def test_every_relative_link_leads_to_a_file_that_exists():
    problems = [problem for document in documents() for problem in broken_links(document)]
    assert not problems, "\n".join(problems)


def test_the_link_check_finds_what_is_broken(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "A.md").write_text("# A\n\n## `file` (default)\n\n## HTTP's edges\n")
    page = tmp_path / "README.md"
    page.write_text("[ok](docs/A.md#file-default) [ok](docs/A.md#https-edges) [ok](http://x/y)\n"
                    "`[in code](nowhere.md)`\n```\n[in a block](nowhere.md)\n```\n"
                    "[gone](docs/B.md) [no heading](docs/A.md#nothing) [outside](../elsewhere.md)\n")
    problems = broken_links(page, root=tmp_path)
    assert [problem.split(": ")[1].split(" ")[0] for problem in problems] == [
        "docs/B.md", "docs/A.md#nothing", "../elsewhere.md"], problems


def test_every_pinned_library_says_why_it_was_chosen():
    """The guide asks why each pinned library was chosen: docs/DEPENDENCIES.md names every one."""
    named = (ROOT / "docs" / "DEPENDENCIES.md").read_text(encoding="utf-8").lower()
    pinned = set()
    for requirements in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / requirements).read_text(encoding="utf-8").splitlines():
            requirement = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)", line.split("#")[0].strip())
            if requirement:
                pinned.add(requirement.group(1).lower())
    missing = sorted(name for name in pinned if f"`{name}" not in named)
    assert not missing, f"docs/DEPENDENCIES.md does not say why these are used: {missing}"
