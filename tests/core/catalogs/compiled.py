"""A small Chinese catalog compiled for one test, ahead of the project's own (LOCALE_PATHS).

The tests that check that a page, an e-mail or an API message comes out in Chinese hold the few
translations they read here, so they pass with or without the full catalog in ``locale/``.
"""

from contextlib import contextmanager
from pathlib import Path

import polib
from django.conf import settings
from django.test import override_settings


@contextmanager
def chinese_catalog(directory: Path, translations: dict[str, str]):
    catalog = polib.POFile()
    catalog.metadata = {
        "Content-Type": "text/plain; charset=UTF-8",
        "Language": "zh_Hans",
        "Plural-Forms": "nplurals=1; plural=0;",
    }
    for msgid, msgstr in translations.items():
        catalog.append(polib.POEntry(msgid=msgid, msgstr=msgstr))
    folder = Path(directory) / "zh_Hans" / "LC_MESSAGES"
    folder.mkdir(parents=True, exist_ok=True)
    catalog.save_as_mofile(str(folder / "django.mo"))
    # Changing LOCALE_PATHS makes Django load its catalogs again (django.test.signals).
    with override_settings(LOCALE_PATHS=[str(directory), *settings.LOCALE_PATHS]):
        yield
