"""The cookbook: the example programs in ``settings.NEXEVO_EXAMPLES_DIR`` (``examples/`` in the
repository), read for the console's Cookbook page.

An example is a ``*.py`` file directly in that directory whose name does not start with ``_`` or ``.``.
Its module docstring's first line is its title (a heading, so without the sentence's full stop) and
the rest its description; the page shows the file as it is, so a developer copies a program that runs.

A name from a URL never becomes part of a path: it is looked up among the files the directory lists,
and a file whose real path lies outside the directory (a symbolic link out of it) is not an example.
Each file is parsed once per version (its modification time and size key the cache), so the page
stays current while someone edits an example and costs a directory listing otherwise.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils.safestring import SafeString, mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

# File names a URL may carry: what <slug:name> accepts, which a traversal ("..", "/") never is.
EXAMPLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
MAX_EXAMPLE_BYTES = 256 * 1024


@dataclass(frozen=True)
class Paragraph:
    text: str
    is_code: bool


@dataclass(frozen=True)
class Example:
    name: str
    filename: str
    title: str
    description: tuple[Paragraph, ...]
    code: str
    code_html: SafeString

    @property
    def summary(self) -> str:
        """The description's first paragraph of prose, for the list."""
        return next((paragraph.text for paragraph in self.description if not paragraph.is_code), "")

    @property
    def line_count(self) -> int:
        return len(self.code.splitlines())


def examples_directory() -> Path:
    return Path(settings.NEXEVO_EXAMPLES_DIR)


def example_list() -> list[Example]:
    """Every example in the directory, by file name; empty when the directory is missing."""
    return [_read_example(path, *stamp) for path, stamp in _example_files(examples_directory())]


def example_get(*, name: str) -> Example | None:
    """The example called ``name`` (its file name without ``.py``), or None."""
    if not EXAMPLE_NAME.fullmatch(name):
        return None
    for path, stamp in _example_files(examples_directory()):
        if path.stem == name:
            return _read_example(path, *stamp)
    return None


def _example_files(directory: Path) -> list[tuple[Path, tuple[int, int]]]:
    """(path, (mtime_ns, size)) of each example file, sorted by name."""
    try:
        root = directory.resolve(strict=True)
        candidates = sorted(root.iterdir())
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []
    found = []
    for path in candidates:
        if path.suffix != ".py" or not EXAMPLE_NAME.fullmatch(path.stem):
            continue
        try:
            real = path.resolve(strict=True)
            status = real.stat()
        except OSError:
            continue
        if real.parent != root or not real.is_file() or status.st_size > MAX_EXAMPLE_BYTES:
            continue
        found.append((real, (status.st_mtime_ns, status.st_size)))
    return found


@functools.lru_cache(maxsize=256)
def _read_example(path: Path, modified_ns: int, size: int) -> Example:
    code = path.read_text(encoding="utf-8", errors="replace")
    try:
        docstring = ast.get_docstring(ast.parse(code)) or ""
    except (SyntaxError, ValueError):
        docstring = ""
    first_line, _, rest = docstring.strip().partition("\n")
    return Example(
        name=path.stem,
        filename=path.name,
        title=first_line.strip().removesuffix(".") or path.stem.replace("_", " ").capitalize(),
        description=_paragraphs(rest),
        code=code,
        code_html=_highlighted(code),
    )


def _highlighted(code: str) -> SafeString:
    """The code as HTML, each token a <span> with Pygments' short class (styled in app.css, so the
    page needs no inline style); its text content is the code itself, which the copy button takes."""
    coloured = highlight(code, PythonLexer(stripnl=False), HtmlFormatter(nowrap=True))
    return mark_safe(coloured)  # noqa: S308 -- Pygments escapes the code it wraps in spans.


def _paragraphs(text: str) -> tuple[Paragraph, ...]:
    """Prose paragraphs joined into one line each; an indented block or a shell line stays as code."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.strip("\n")):
        lines = block.splitlines()
        if not any(line.strip() for line in lines):
            continue
        if all(line.startswith(("    ", "\t", "$ ")) or not line.strip() for line in lines):
            indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
            paragraphs.append(Paragraph("\n".join(line[indent:] for line in lines), is_code=True))
        else:
            paragraphs.append(Paragraph(" ".join(line.strip() for line in lines), is_code=False))
    return tuple(paragraphs)
