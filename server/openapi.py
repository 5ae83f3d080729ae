"""Corrections to the OpenAPI document that Litestar generates."""

from __future__ import annotations

from datetime import time
from typing import Any, Final

from litestar.openapi.spec import Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.plugins import OpenAPISchemaPlugin
from litestar.typing import FieldDefinition

# How msgspec writes a ``datetime.time``, and reads it back.
WALL_CLOCK_PATTERN: Final = r"^([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?([+-]\d\d:\d\d|Z)?$"


class WallClockSchema(OpenAPISchemaPlugin):
    """``datetime.time`` (opening hours, booking and stay times of the rules) is a time of day, written
    ``10:00:00``. Litestar documents it as an ISO 8601 *duration* (``P1D``), so clients and schema
    validators took every such field in our answers for invalid; the document gives its pattern."""

    @staticmethod
    def is_plugin_supported_type(value: Any) -> bool:
        return value is time

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        return Schema(
            type=OpenAPIType.STRING,
            pattern=WALL_CLOCK_PATTERN,
            description="A time of day, HH:MM:SS (Seoul wall clock)",
        )
