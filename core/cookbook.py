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
import textwrap
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

# File names a URL may carry: what <slug:name> accepts, which a traversal ("..", "/") never is.
EXAMPLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
MAX_EXAMPLE_BYTES = 256 * 1024


@dataclass(frozen=True)
class Paragraph:
    """One block of a description: ``prose`` (its wrapped lines joined), ``code`` (a command or an
    indented block, kept line by line) or ``list`` (``- `` items)."""

    kind: str
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines) if self.kind == "code" else " ".join(self.lines)

    @property
    def html(self) -> SafeString:
        if self.kind == "code":
            return format_html("<pre>{}</pre>", self.text)
        if self.kind == "list":
            items = (format_html("<li>{}</li>", inline_code(item)) for item in self.lines)
            return format_html("<ul>{}</ul>", mark_safe("".join(items)))  # noqa: S308 -- each item escaped
        return format_html("<p>{}</p>", inline_code(self.text))


@dataclass(frozen=True)
class Example:
    name: str
    filename: str
    title: str  # plain text: the docstring's `code` marks dropped
    title_html: SafeString
    description: tuple[Paragraph, ...]
    code: str
    code_html: SafeString

    @property
    def summary_html(self) -> SafeString:
        """The description's opening paragraph when it is prose, for the list (a later one may be a
        footnote, such as a program's exit status)."""
        opening = self.description[0] if self.description else None
        return inline_code(opening.text) if opening and opening.kind == "prose" else mark_safe("")  # noqa: S308

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
    title = first_line.strip().removesuffix(".") or path.stem.replace("_", " ").capitalize()
    return Example(
        name=path.stem,
        filename=path.name,
        title=title.replace("`", ""),
        title_html=inline_code(title),
        description=_paragraphs(rest),
        code=code,
        code_html=_highlighted(code),
    )


def _highlighted(code: str) -> SafeString:
    """The code as HTML, each token a <span> with Pygments' short class (styled in app.css, so the
    page needs no inline style); its text content is the code itself, which the copy button takes."""
    coloured = highlight(code, PythonLexer(stripnl=False), HtmlFormatter(nowrap=True))
    return mark_safe(coloured)  # noqa: S308 -- Pygments escapes the code it wraps in spans.


def inline_code(text: str) -> SafeString:
    """``text`` escaped, with its `backquoted` words as <code>, as a docstring writes them."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an unpaired backquote: no code marks at all
        return format_html("{}", text)
    return mark_safe(  # noqa: S308 -- every part is escaped by format_html
        "".join(
            format_html("<code>{}</code>" if index % 2 else "{}", part) for index, part in enumerate(parts)
        )
    )


# A line a reader would type into a shell: `$ ...`, or `python ...` / `pip ...` with variables before it.
COMMAND_LINE = re.compile(r"\$ |(?:[A-Z][A-Z0-9_]*=\S*\s+)*(?:python3?|pip3?|curl|export)\s")


def _line_kind(line: str, current: str | None) -> str:
    if current == "list" and line.startswith("  ") and not line.startswith("    "):
        return "continuation"  # of the list's last item
    if line.startswith(("    ", "\t")) or COMMAND_LINE.match(line):
        return "code"
    if line.startswith(("- ", "* ")):
        return "list"
    return "prose"


def _paragraphs(text: str) -> tuple[Paragraph, ...]:
    """The description's blocks: prose joined into one line each, ``- `` lists, and commands or
    indented blocks kept as code, line by line."""
    blocks: list[tuple[str, list[str]]] = []
    for chunk in re.split(r"\n\s*\n", text.strip("\n")):
        current = None  # the kind of block this chunk of the docstring is adding to
        for line in chunk.splitlines():
            if not line.strip():
                continue
            kind = _line_kind(line, current)
            if kind == "continuation":
                blocks[-1][1][-1] += " " + line.strip()
                continue
            if kind != current:
                blocks.append((kind, []))
                current = kind
            blocks[-1][1].append(
                line if kind == "code" else line.strip().removeprefix("- ").removeprefix("* ")
            )
    return tuple(
        Paragraph(kind, tuple(textwrap.dedent("\n".join(lines)).splitlines() if kind == "code" else lines))
        for kind, lines in blocks
    )
