"""Logging: one JSON object a line (``SEOULRUN_LOG_FORMAT=json``, the default) or readable text (``text``,
what ``make run`` uses), for the server's own lines and uvicorn's alike.

Every line written while a request is served carries its ``request_id``. Nothing here logs a path as
it was asked: the request line names the route template (``/ical/{filename}``), so that neither a
feed's secret url nor any query string reaches the log.
"""

from __future__ import annotations

import logging
import logging.config
import os
import re
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

# The request being served, set by ``server.observability.observe_requests``.
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Anything a line's fields hold that JSON has no word for (a date, an exception) is written as its str.
_encoder: Final = msgspec.json.Encoder(enc_hook=str)


class _Stamps:
    """A line's time as ``datetime.isoformat(timespec="milliseconds")`` of UTC writes it
    (``2026-12-06T01:02:03.456+00:00``), the text of its second made once a second: a line is written
    for every request, thousands in a second."""

    def __init__(self) -> None:
        self.known: tuple[int, str] = (-1, "")  # the second and its text, one tuple: threads read it whole

    def of(self, created: float) -> str:
        second, micro = divmod(round(created * 1_000_000), 1_000_000)
        known = self.known
        if known[0] != second:
            known = self.known = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
        return f"{known[1]}.{micro // 1000:03d}+00:00"


_stamps: Final = _Stamps()


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", "pid", "request_id"?, ...fields, "exception"?}`` on one line; a
    record's ``fields`` (``log.info(..., extra={"fields": {...}})``) become members of their own."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _stamps.of(record.created),
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


class RequestLines:
    """The request's line (``REQUEST_LOGGER``, written by ``server.observability``). Where the process
    logs as ``logging_config("json")`` set it up (the root's one handler a stream of ``JsonFormatter``
    lines, whose filters are ours, and nothing of its own on the way there), the line is written
    straight to that stream, the very line the formatter writes: a ``LogRecord``, the walk of loggers
    and handlers and the formatter's look-ups cost half of it, and a line is written for every request
    (a tenth of a sold-out answer's CPU was its line). Anything else (text, a test's capture, another
    handler, a level that drops it) goes through ``logging``."""

    def __init__(self) -> None:
        self.logger = logging.getLogger(REQUEST_LOGGER)

    def write(self, rid: str, method: str, route: str, status: int, duration_ms: float, client: str) -> None:
        logger = self.logger
        if not logger.isEnabledFor(logging.INFO):
            return
        message = f"{method} {route} {status} {duration_ms:.1f} ms {client}"
        fields = {
            "request_id": rid,
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": duration_ms,
            "client": client,
        }
        handler = self._stream()
        if handler is not None:
            # JsonFormatter's members, in its order (the request's id is the one it takes from request_id).
            entry = {"ts": _stamps.of(time.time()), "level": "info", "logger": REQUEST_LOGGER, "message": message}
            line = _encoder.encode({**entry, "pid": os.getpid(), **fields}).decode()
            handler.acquire()  # as Handler.handle and StreamHandler.emit: the line, then a flush
            try:
                handler.stream.write(line + handler.terminator)
                handler.stream.flush()
                return
            except Exception:  # noqa: S110  # a stream that fails: logging reports it (handleError)
                pass
            finally:
                handler.release()
        logger.info("%s", message, extra={"fields": fields})

    def _stream(self) -> logging.StreamHandler[Any] | None:
        """The one stream the line would reach through ``logging``, when only our formatter and filters
        are on the way; else None."""
        logger: logging.Logger | None = self.logger
        while logger is not None and logger is not logging.root:
            if logger.handlers or logger.filters or not logger.propagate:
                return None
            logger = logger.parent
        root = logging.root
        if root.filters or len(root.handlers) != 1:
            return None
        handler = root.handlers[0]
        if type(handler) is not logging.StreamHandler or type(handler.formatter) is not JsonFormatter:
            return None
        if handler.level > logging.INFO or any(type(f) is not FeedSecretFilter for f in handler.filters):
            return None
        return handler


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
