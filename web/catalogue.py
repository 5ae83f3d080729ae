"""The page texts' catalogues (``web/locale/{ko,en}/LC_MESSAGES/web.po``): add entries, check both.

python -m web.catalogue add FILE.tsv    # lines: key<TAB>korean<TAB>english (kept sorted by key)
python -m web.catalogue check           # every key in both languages, with the same {fields}
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from core.i18n import LOCALES, placeholders
from web.i18n import DOMAIN, LOCALE_DIR

_STAMP = datetime(2026, 12, 1, tzinfo=UTC)


def path_of(locale: str, locale_dir: Path = LOCALE_DIR) -> Path:
    return locale_dir / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def read(locale: str, locale_dir: Path = LOCALE_DIR) -> dict[str, str]:
    path = path_of(locale, locale_dir)
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        return {str(m.id): str(m.string) for m in read_po(handle, locale=locale, domain=DOMAIN) if m.id}


def write(locale: str, entries: dict[str, str], locale_dir: Path = LOCALE_DIR) -> None:
    language = "Korean" if locale == "ko" else "English"
    catalog = Catalog(
        locale=locale,
        domain=DOMAIN,
        project="seoulrun",
        version="1",
        charset="utf-8",
        fuzzy=False,
        creation_date=_STAMP,
        revision_date=_STAMP,
        header_comment=(
            f"# 서울런 4050: texts of the web pages ({language}).\n"
            "# Keys are stable and start with web.; texts use Python brace fields ({name}).\n"
        ),
    )
    for key in sorted(entries):
        catalog.add(key, entries[key], flags=("python-brace-format",) if "{" in entries[key] else ())
    path = path_of(locale, locale_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalog, width=0, sort_output=True)


def add(tsv: Path, locale_dir: Path = LOCALE_DIR) -> int:
    rows = []
    for line in tsv.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, korean, english = line.split("\t")
        rows.append((key.strip(), korean.strip(), english.strip()))
    for index, locale in enumerate(LOCALES):
        entries = read(locale, locale_dir)
        entries.update({key: texts[index] for key, *texts in rows})
        write(locale, entries, locale_dir)
    return len(rows)


def problems(locale_dir: Path = LOCALE_DIR) -> list[str]:
    found: list[str] = []
    ko, en = read("ko", locale_dir), read("en", locale_dir)
    for key in sorted(set(ko) | set(en)):
        if not key.startswith("web."):
            found.append(f"{key}: page texts start with web.")
        if not ko.get(key) or not en.get(key):
            found.append(f"{key}: missing in {'ko' if not ko.get(key) else 'en'}")
        elif placeholders(ko[key]) != placeholders(en[key]):
            found.append(f"{key}: fields differ ({sorted(placeholders(ko[key]))} / {sorted(placeholders(en[key]))})")
    return found


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "add":
        print(f"{add(Path(argv[1]))} entries")
        return 0
    if argv == ["check"]:
        issues = problems()
        print("\n".join(issues) or "ok")
        return 1 if issues else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
