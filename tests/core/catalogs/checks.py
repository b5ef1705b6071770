"""Checks of a gettext catalog against the project's sources and its glossary (locale/GLOSSARY.md).

The tests run them on the real catalog (``locale/zh_Hans/LC_MESSAGES/django.po``, or the file that
``NEXEVO_CATALOG`` names) and on the small hand-made catalogs next to this module, which show that
each check catches what it should.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import polib

BASE_DIR = Path(__file__).resolve().parents[3]
FIXTURES = Path(__file__).resolve().parent
GLOSSARY = BASE_DIR / "locale" / "GLOSSARY.md"
LANGUAGE = "zh_Hans"
DEFAULT_CATALOG = BASE_DIR / "locale" / LANGUAGE / "LC_MESSAGES" / "django.po"

# Folders of the repository that hold no strings a person reads in the console.
NOT_SOURCES = (".venv", ".git", ".ci", "tests", "sdk", "bench", "deploy", "node_modules", "locale")


def catalog_path() -> Path:
    return Path(os.environ.get("NEXEVO_CATALOG") or DEFAULT_CATALOG)


def load(path: Path) -> polib.POFile:
    return polib.pofile(str(path), wrapwidth=0)


def live_entries(catalog: polib.POFile):
    return [entry for entry in catalog if not entry.obsolete and entry.msgid]


def msgstrs(entry: polib.POEntry) -> list[str]:
    if entry.msgid_plural:
        return [entry.msgstr_plural[index] for index in sorted(entry.msgstr_plural)]
    return [entry.msgstr]


def is_translated(entry: polib.POEntry) -> bool:
    return all(text.strip() for text in msgstrs(entry))


def untranslated_or_fuzzy(catalog: polib.POFile) -> list[str]:
    problems = []
    for entry in live_entries(catalog):
        if "fuzzy" in entry.flags:
            problems.append(f"fuzzy: {entry.msgid!r}")
        elif not is_translated(entry):
            problems.append(f"untranslated: {entry.msgid!r}")
    return problems


def msgfmt_check(path: Path) -> str:
    """msgfmt's complaints (placeholders that differ, a bad header, ...); empty when it passes."""
    result = subprocess.run(
        ["msgfmt", "--check", "--output-file=/dev/null", str(path)], capture_output=True, text=True
    )
    return "" if result.returncode == 0 else (result.stderr or result.stdout or "msgfmt failed")


def _key(entry: polib.POEntry) -> tuple[str | None, str]:
    return (entry.msgctxt, entry.msgid)


def source_msgids(source_dir: Path = BASE_DIR) -> set[tuple[str | None, str]]:
    """What ``makemessages`` finds in the sources of ``source_dir``, as (msgctxt, msgid) pairs.

    It runs in a copy of the sources, so the working tree's ``locale/`` is never written.
    """
    with tempfile.TemporaryDirectory(prefix="nexevo-makemessages-") as workdir:
        copy = Path(workdir) / "project"
        shutil.copytree(
            source_dir,
            copy,
            ignore=shutil.ignore_patterns(*NOT_SOURCES, "__pycache__", "*.sqlite3", "*.pyc", "media"),
        )
        (copy / "locale").mkdir()
        environment = {
            **os.environ,
            "PYTHONPATH": str(copy),
            "DJANGO_SETTINGS_MODULE": "nexevo_site.settings",
        }
        environment.pop("DATABASE_URL", None)
        result = subprocess.run(
            [sys.executable, "manage.py", "makemessages", "-l", LANGUAGE, "--no-location", "--verbosity=0"],
            cwd=copy,
            capture_output=True,
            text=True,
            env=environment,
        )
        if result.returncode != 0:
            raise RuntimeError(f"makemessages failed:\n{result.stdout}\n{result.stderr}")
        generated = load(copy / "locale" / LANGUAGE / "LC_MESSAGES" / "django.po")
        return {_key(entry) for entry in live_entries(generated)}


def missing_msgids(catalog: polib.POFile, sources: set[tuple[str | None, str]]) -> list[str]:
    present = {_key(entry) for entry in live_entries(catalog)}
    return sorted(
        (f"{msgid!r} (context {context!r})" if context else repr(msgid))
        for context, msgid in sources - present
    )


# --- The glossary ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    english: str  # as the glossary writes it, for messages
    pattern: re.Pattern
    chinese: tuple[str, ...]  # any one will do
    forbidden: tuple[str, ...]
    not_in: tuple[str, ...] = ()  # texts of msgids where the word means something else


def _english_pattern(alternatives: list[str]) -> re.Pattern:
    parts = []
    for alternative in alternatives:
        words = re.split(r"[\s-]+", alternative.strip())
        parts.append(r"[\s-]+".join(re.escape(word) for word in words) + "s?")
    return re.compile(r"(?<![\w-])(?:" + "|".join(parts) + r")(?![\w-])", re.IGNORECASE)


def _drop_lowercase_notes(text: str) -> str:
    # "admin (role)" -> "admin"; "(BYOK)" is an acronym, and is not part of the match either.
    return re.sub(r"\s*\([^)]*\)", "", text).strip()


EXCEPTIONS_HEADING = "## Where a word is not the term"


def _table_rows(path: Path, heading: str | None) -> list[list[str]]:
    """The rows of the first table after ``heading`` (None: the file's first table)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if heading is not None:
        lines = lines[lines.index(heading) + 1 :]
    rows, started = [], False
    for line in lines:
        if line.startswith("|"):
            started = True
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if not set("".join(cells)) <= {"-", " "}:
                rows.append(cells)
        elif started:
            break
    return rows[1:]  # without the header


def glossary_exceptions(path: Path = GLOSSARY) -> dict[str, tuple[str, ...]]:
    """For a term (as the glossary writes it), the texts of msgids where its word means something else."""
    exceptions: dict[str, tuple[str, ...]] = {}
    for cells in _table_rows(path, EXCEPTIONS_HEADING):
        exceptions[cells[0]] = (*exceptions.get(cells[0], ()), cells[1])
    return exceptions


def glossary_terms(path: Path = GLOSSARY) -> list[Term]:
    terms = []
    exceptions = glossary_exceptions(path)
    for cells in _table_rows(path, None):
        if len(cells) < 2:
            continue
        english, chinese = cells[0], cells[1]
        note = cells[2] if len(cells) > 2 else ""
        english_alternatives = [_drop_lowercase_notes(part) for part in english.split(" / ")]
        chinese_alternatives = tuple(_drop_lowercase_notes(part) for part in chinese.split(" / "))
        forbidden = tuple(re.findall(r"never\s+(\S+)", note))
        terms.append(
            Term(
                english=english,
                pattern=_english_pattern(english_alternatives),
                chinese=tuple(alternative for alternative in chinese_alternatives if alternative),
                forbidden=tuple(word.strip(".,;") for word in forbidden),
                not_in=exceptions.get(english, ()),
            )
        )
    # Longer terms first, so that "API key" claims its words before "key" looks at them.
    return sorted(terms, key=lambda term: -len(_drop_lowercase_notes(term.english)))


_NOT_WORDS = re.compile(
    r"%\(\w+\)[sdfi]"  # %(name)s
    r"|%[sdfi]"
    r"|\{\w*\}"  # {name}
    r"|<[^>]+>"  # HTML tags and their attributes
    r"|`[^`]*`"  # code
    r"|[\w.+-]+@[\w.-]+"  # e-mail addresses: name@example.com
    r"|\b[A-Z][a-z]+(?:-[A-Z][a-z]+)+\b"  # header names: Idempotency-Key, Accept-Language
)


def glossary_violations(catalog: polib.POFile, terms: list[Term]) -> list[str]:
    violations = []
    for entry in live_entries(catalog):
        if "fuzzy" in entry.flags or not is_translated(entry):
            continue  # test_catalog's business
        for english_text, translations in (
            (entry.msgid, msgstrs(entry)[:1]),
            (entry.msgid_plural, msgstrs(entry)[1:] or msgstrs(entry)),
        ):
            if not english_text:
                continue
            text = _NOT_WORDS.sub(" ", english_text)
            if all(translation.strip() == english_text.strip() for translation in translations):
                continue  # kept in English on purpose
            for term in terms:
                if not term.pattern.search(text):
                    continue
                if any(held.lower() in english_text.lower() for held in term.not_in):
                    continue
                # This place is the term's: a shorter term inside it is not checked again.
                text = term.pattern.sub(" \x00 ", text)
                for translation in translations:
                    lowered = translation.lower()
                    if not any(chinese.lower() in lowered for chinese in term.chinese):
                        violations.append(
                            f"{english_text!r}: {term.english!r} should read {' / '.join(term.chinese)!r} "
                            f"in {translation!r}"
                        )
                    for word in term.forbidden:
                        if word in translation:
                            violations.append(
                                f"{english_text!r}: never {word!r} ({term.english!r}) in {translation!r}"
                            )
    return violations
