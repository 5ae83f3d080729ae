"""Logging: one JSON object a line (``SEOULRUN_LOG_FORMAT=json``, the default) or readable text (``text``,
what ``make run`` uses), for the server's own lines and uvicorn's alike.

Every line written while a request is served carries its ``request_id``. Nothing here logs a path as
it was asked: the request line names the route template (``/ical/{filename}``), so that neither a
feed's secret url nor any query string reaches the log.
"""

from __future__ import annotations

import logging
import logging.config
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

# The request being served, set by ``server.observability.observe_requests``.
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Anything a line's fields hold that JSON has no word for (a date, an exception) is written as its str.
_encoder: Final = msgspec.json.Encoder(enc_hook=str)


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", "pid", "request_id"?, ...fields, "exception"?}`` on one line; a
    record's ``fields`` (``log.info(..., extra={"fields": {...}})``) become members of their own."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,  # which worker: several share one log
        }
        current = request_id.get()
        if current is not None:
            entry["request_id"] = current
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # msgspec rather than json.dumps: a line for every request, at a tenth of the cost.
        return _encoder.encode(entry).decode()


class TextFormatter(logging.Formatter):
    """``TEXT_FORMAT``, with `` [request id]`` at the end of the lines written while serving a request."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        current = request_id.get()
        return f"{line} [{current}]" if current is not None else line


def logging_config(log_format: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the whole process; uvicorn takes it too (``log_config``), so
    that its lines (startup, errors) are in the same format."""
    formatter = {"()": JsonFormatter if log_format == "json" else TextFormatter}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "filters": {"feed_secrets": {"()": FeedSecretFilter}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["feed_secrets"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["default"], "level": "INFO"},
        "loggers": {
            # Through the root's handler, once.
            "uvicorn": {"handlers": [], "level": "INFO", "propagate": True},
            "uvicorn.error": {"handlers": [], "level": "INFO", "propagate": True},
            # Replaced by our request line (seoulrun.request), which names the route, not the path.
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            # Our jobs log what they did; APScheduler's "running job" lines every few seconds are noise.
            "apscheduler": {"level": "WARNING"},
            # An outgoing request's line holds its whole url (a gateway's key in a query string).
            "httpx": {"level": "WARNING"},
        },
    }


def configure(log_format: str) -> None:
    logging.config.dictConfig(logging_config(log_format))
    # What no line of ours shows, which logging would otherwise look up for every record, a request's
    # line included (the logging HOWTO's "Optimization"): the caller's file and line, the thread, the
    # multiprocessing name. The process id stays (``pid``).
    logging.logThreads = False
    logging.logMultiprocessing = False
    logging._srcfile = None


# The one line per request (``server.observability``), a fifth of whose cost was this filter.
REQUEST_LOGGER: Final = "seoulrun.request"

_FEED_SECRET = re.compile(r"/ical/[^/?\s\"]+\.ics")


def hide_feed_secrets(text: str) -> str:
    return _FEED_SECRET.sub("/ical/***.ics", text)


class FeedSecretFilter(logging.Filter):
    """A feed url is its own password. Our request lines never hold one, but another library's line
    might (uvicorn's access log when turned on, an error that quotes a url): ``/ical/***.ics`` then."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == REQUEST_LOGGER:  # a route's template, never its path: nothing to hide
            return True
        if isinstance(record.msg, str) and "/ical/" in record.msg:
            record.msg = hide_feed_secrets(record.msg)
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(hide_feed_secrets(a) if isinstance(a, str) else a for a in record.args)
        return True
