"""Field types that every domain's request bodies and parameters share: ids and text.

Each type carries its bounds twice, for msgspec (``msgspec.Meta``: body fields) and for Litestar
(``Parameter``: path, query and header parameters), so that one name bounds an id wherever it comes
in, and the OpenAPI document shows the bounds.

Why these bounds:

- Ids: primary keys are BIGINT on PostgreSQL but foreign-key and reference columns are INTEGER, and
  SQLite and asyncpg refuse integers past 64 bits. An id above ``MAX_ID`` cannot name a row, and in a
  query it would overflow a column or the driver (a 500 or a 503 before). Ids start at 1.
- Text: PostgreSQL cannot store NUL in text at all, and control characters in a name or address break
  the pages, the QR scanner's display, the calendar feeds and the logs that show them. One-line fields
  refuse every control character; multi-line text keeps tab, line feed and carriage return.
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec
from litestar.params import Parameter

MAX_ID: Final = 2**31 - 1

# C0 controls, DEL and C1 controls: never in a one-line field.
ONE_LINE_PATTERN: Final = r"^[^\x00-\x1f\x7f-\x9f]*$(?!\n)"
# The same but tab, line feed and carriage return, for descriptions and notes.
MULTI_LINE_PATTERN: Final = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"

Id = Annotated[
    int,
    msgspec.Meta(ge=1, le=MAX_ID, description=f"An id, 1 to {MAX_ID}"),
    Parameter(ge=1, le=MAX_ID, description=f"An id, 1 to {MAX_ID}"),
]
# A query parameter that may be left out: Litestar reads the bounds only off the outer annotation.
OptionalId = Annotated[int | None, Parameter(ge=1, le=MAX_ID, description=f"An id, 1 to {MAX_ID}")]
Ids = Annotated[list[Id], msgspec.Meta(max_length=500)]

# Text of one line (names, titles, addresses, codes) and of several (descriptions, notes). Length bounds
# are added where used: ``Annotated[OneLine, msgspec.Meta(min_length=1, max_length=100)]``.
OneLine = Annotated[str, msgspec.Meta(pattern=ONE_LINE_PATTERN)]
MultiLine = Annotated[str, msgspec.Meta(pattern=MULTI_LINE_PATTERN)]
# A free-text search or filter in a query string.
SearchText = Annotated[str | None, Parameter(max_length=100, pattern=ONE_LINE_PATTERN)]
