"""Editing a message catalogue (``<dir>/{ko,en}/LC_MESSAGES/<domain>.po``): add entries, check both
languages, and settle a merge conflict. Here the domain's messages; ``web.catalogue`` the page texts.

python -m core.catalogue add FILE.tsv   # lines: key<TAB>korean<TAB>english (kept sorted by key)
python -m core.catalogue check          # every key in both languages, with the same {fields}
python -m core.catalogue merge          # after a git merge conflict: the union of both sides
"""

from __future__ import annotations

import io
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from core.i18n import LOCALE_DIR, LOCALES, placeholders

_STAMP = datetime(2026, 12, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Catalogue:
    locale_dir: Path
    domain: str
    header: str  # the comment above the entries; {language} is Korean or English
    prefix: str = ""  # every key starts with it ("" for none)
    brace_flags: bool = False  # mark entries with fields python-brace-format

    def path_of(self, locale: str) -> Path:
        return self.locale_dir / locale / "LC_MESSAGES" / f"{self.domain}.po"

    def parse(self, data: bytes, locale: str) -> dict[str, str]:
        po = read_po(io.BytesIO(data), locale=locale, domain=self.domain)
        return {str(m.id): str(m.string) for m in po if m.id}

    def read(self, locale: str) -> dict[str, str]:
        path = self.path_of(locale)
        return self.parse(path.read_bytes(), locale) if path.exists() else {}

    def write(self, locale: str, entries: dict[str, str]) -> None:
        language = "Korean" if locale == "ko" else "English"
        catalog = Catalog(
            locale=locale,
            domain=self.domain,
            project="seoulrun",
            version="1",
            charset="utf-8",
            fuzzy=False,
            creation_date=_STAMP,
            revision_date=_STAMP,
            header_comment=self.header.format(language=language),
        )
        for key in sorted(entries):
            flags = ("python-brace-format",) if self.brace_flags and "{" in entries[key] else ()
            catalog.add(key, entries[key], flags=flags)
        path = self.path_of(locale)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            write_po(handle, catalog, width=0, sort_output=True)

    def add(self, tsv: Path) -> int:
        rows = []
        for line in tsv.read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            key, korean, english = line.split("\t")
            rows.append((key.strip(), korean.strip(), english.strip()))
        for index, locale in enumerate(LOCALES):
            entries = self.read(locale)
            entries.update({key: texts[index] for key, *texts in rows})
            self.write(locale, entries)
        return len(rows)

    def merge(self) -> int:
        """Both sides of a conflicted merge, united (where both changed a key, theirs wins)."""
        count = 0
        for locale in LOCALES:
            path = self.path_of(locale)
            entries: dict[str, str] = {}
            for stage in (2, 3):
                shown = subprocess.run(  # noqa: S603 - git with fixed arguments, a developer tool
                    ["git", "show", f":{stage}:./{path.name}"],  # noqa: S607
                    cwd=path.parent,
                    capture_output=True,
                    check=False,
                )
                if shown.returncode == 0:
                    entries.update(self.parse(shown.stdout, locale))
            if entries:
                self.write(locale, entries)
                count = len(entries)
        return count

    def problems(self) -> list[str]:
        """Keys missing in a language, or whose texts differ in their fields (an English text may use
        the ``_en`` twin of a field: ``{venue_en}`` for ``{venue}``)."""
        found: list[str] = []
        ko, en = self.read("ko"), self.read("en")
        for key in sorted(set(ko) | set(en)):
            if self.prefix and not key.startswith(self.prefix):
                found.append(f"{key}: keys here start with {self.prefix}")
            if not ko.get(key) or not en.get(key):
                found.append(f"{key}: missing in {'ko' if not ko.get(key) else 'en'}")
            elif placeholders(ko[key]) != {field.removesuffix("_en") for field in placeholders(en[key])}:
                found.append(
                    f"{key}: fields differ ({sorted(placeholders(ko[key]))} / {sorted(placeholders(en[key]))})"
                )
        return found


MESSAGES = Catalogue(
    LOCALE_DIR,
    "messages",
    "# 서울런 4050: messages people read ({language}).\n"
    "# Keys are stable; texts use Python brace fields ({{name}}), filled when shown.\n",
)


def main(argv: list[str], chosen: Catalogue = MESSAGES) -> int:
    if len(argv) == 2 and argv[0] == "add":
        print(f"{chosen.add(Path(argv[1]))} entries")
        return 0
    if argv == ["merge"]:
        print(f"{chosen.merge()} entries")
        return 0
    if argv == ["check"]:
        issues = chosen.problems()
        print("\n".join(issues) or "ok")
        return 1 if issues else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
