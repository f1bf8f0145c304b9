"""The documentation site and the README: every Python example on them runs as written,
every command in their shell examples is one the CLI has, every page the README or the
site's nav names exists. (CI also builds the site with ``mkdocs build --strict``.)"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]


def blocks(lang: str) -> list[tuple[Path, int, str]]:
    """(page, line, code) of every ```lang block (a block after ``<!-- not-run -->`` is left out)."""
    out = []
    for page in PAGES:
        text = page.read_text()
        for m in re.finditer(rf"(<!-- not-run -->\s*)?```{lang}\n(.*?)```", text, re.S):
            if not m.group(1):
                out.append((page, text[:m.start()].count("\n") + 1, m.group(2)))
    return out


def _id(b):
    return f"{b[0].relative_to(ROOT)}:{b[1]}"


@pytest.mark.parametrize("block", blocks("python"), ids=_id)
def test_python_examples_run(block, tmp_path, monkeypatch):
    page, line, code = block
    if "to_onnx" in code:
        pytest.importorskip("onnxruntime")
    monkeypatch.chdir(tmp_path)  # examples may write files (lstm.onnx, runs/...)
    exec(compile("\n" * (line) + code, str(page), "exec"), {"__name__": "__example__"})


def _commands() -> set[tuple[str, ...]]:
    from rnnlab.apps import APP_MODULES as APPS

    found = set()
    for _, _, code in blocks("bash"):
        for m in re.finditer(r"(?:^|&&|\s)rnnlab ([a-z]+)(?: ([a-z]+))?", code, re.M):
            app, verb = m.group(1), m.group(2)
            found.add((app,) if app not in APPS or verb is None else (app, verb))
    return found


@pytest.mark.parametrize("command", sorted(_commands()), ids=" ".join)
def test_shell_examples_name_real_commands(command):
    from typer.testing import CliRunner

    from rnnlab.cli import cli

    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, f"'rnnlab {' '.join(command)}' in the docs is not a command: {result.output}"


def test_every_page_the_readme_and_the_nav_name_exists():
    readme = (ROOT / "README.md").read_text()
    named = set(re.findall(r"\]\(((?:docs/)?[\w/.-]+\.md)\)", readme))
    named |= set(re.findall(r"`(docs/[\w/.-]+\.md)`", readme))
    nav = re.findall(r":\s*([\w/.-]+\.md)\s*$|^\s*-\s*([\w/.-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), re.M)
    missing = [p for p in named if not (ROOT / p).exists()]
    missing += [p for pair in nav for p in pair if p and not (ROOT / "docs" / p).exists()]
    assert not missing, missing
    assert len(readme.splitlines()) <= 250  # the README is the front door; the site has the rest
