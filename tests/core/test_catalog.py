"""The Simplified Chinese catalog is complete: every msgid of ours is translated and not fuzzy,
``makemessages`` finds no msgid that the catalog lacks, and ``msgfmt --check`` passes.

The first tests read the real catalog (``NEXEVO_CATALOG`` may point at another file); the others
show, on small hand-made catalogs, that each check catches what it should.
"""

import polib
import pytest

from tests.core.catalogs.checks import (
    FIXTURES,
    catalog_path,
    load,
    missing_msgids,
    msgfmt_check,
    source_msgids,
    untranslated_or_fuzzy,
)

NO_CATALOG = (
    "No catalog at {path}: locale/zh_Hans/LC_MESSAGES/django.po is built from the translators' work "
    "(locale/README.md); NEXEVO_CATALOG may point at another .po file."
)


@pytest.fixture(scope="module")
def sources():
    return source_msgids()


@pytest.fixture
def catalog():
    path = catalog_path()
    assert path.exists(), NO_CATALOG.format(path=path)
    return path


def test_it_translates_every_msgid(catalog):
    problems = untranslated_or_fuzzy(load(catalog))
    assert not problems, f"{len(problems)} entries to translate:\n" + "\n".join(problems)


def test_it_holds_every_msgid_of_the_sources(catalog, sources):
    missing = missing_msgids(load(catalog), sources)
    assert not missing, (
        f"makemessages would add {len(missing)} msgids (run it, then translate them):\n" + "\n".join(missing)
    )


def test_it_passes_msgfmt_check(catalog):
    assert msgfmt_check(catalog) == ""


# --- The checks themselves, on hand-made catalogs --------------------------------------------------


def test_it_accepts_a_complete_catalog():
    assert untranslated_or_fuzzy(load(FIXTURES / "complete.po")) == []
    assert msgfmt_check(FIXTURES / "complete.po") == ""


def test_it_names_an_untranslated_msgid():
    assert untranslated_or_fuzzy(load(FIXTURES / "untranslated.po")) == ["untranslated: 'API keys'"]


def test_it_names_a_fuzzy_msgid():
    assert untranslated_or_fuzzy(load(FIXTURES / "fuzzy.po")) == ["fuzzy: 'API keys'"]


def test_it_refuses_a_translation_whose_placeholders_differ():
    assert "format specification for argument 'name'" in msgfmt_check(FIXTURES / "bad_placeholder.po")


def test_it_finds_the_sources_msgids(sources):
    assert (None, "Dashboard") in sources  # templates/base.html
    assert (None, "The API key had expired.") in sources  # gateway/errors.py
    assert not any("test" in msgid.lower() and msgid.startswith("tests/") for _, msgid in sources)


def test_it_names_a_msgid_that_makemessages_would_add(sources):
    catalog = polib.POFile()
    for context, msgid in sources:
        if msgid != "Dashboard":
            catalog.append(polib.POEntry(msgctxt=context, msgid=msgid, msgstr="译文"))

    assert missing_msgids(catalog, sources) == ["'Dashboard'"]

    catalog.append(polib.POEntry(msgid="Dashboard", msgstr="控制台"))
    assert missing_msgids(catalog, sources) == []


def test_it_reads_the_catalog_that_nexevo_catalog_names(monkeypatch):
    monkeypatch.setenv("NEXEVO_CATALOG", str(FIXTURES / "fuzzy.po"))
    assert catalog_path() == FIXTURES / "fuzzy.po"
