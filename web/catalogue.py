"""The page texts' catalogues (``web/locale/{ko,en}/LC_MESSAGES/web.po``): keys start with ``web.``.

python -m web.catalogue add FILE.tsv   # lines: key<TAB>korean<TAB>english (kept sorted by key)
python -m web.catalogue check          # every key in both languages, with the same {fields}
python -m web.catalogue merge          # after a git merge conflict: the union of both sides
"""

from __future__ import annotations

import sys

from core.catalogue import Catalogue, main
from web.i18n import DOMAIN, LOCALE_DIR

PAGES = Catalogue(
    LOCALE_DIR,
    DOMAIN,
    "# 서울런 4050: texts of the web pages ({language}).\n"
    "# Keys are stable and start with web.; texts use Python brace fields ({{name}}).\n",
    prefix="web.",
    brace_flags=True,
)
read = PAGES.read
problems = PAGES.problems


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], PAGES))
