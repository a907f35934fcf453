"""Structured logs: key-value lines (JSON off a terminal), with secrets redacted before rendering.

Rookery's own code logs through stdlib `logging` (`logger.info("event.name", extra={...})`) or
structlog; both end in the same renderer, so a line from Rookery, uvicorn or SQLAlchemy looks alike.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, Final

import structlog

# Keys whose values never reach a log line, whatever logged them.
_SECRET_KEY = re.compile(
    r"(token|secret|password|authorization|signature|nonce|(?<!status_)code|cookie|state|key)",
    re.IGNORECASE,
)
# Secret-bearing query parameters inside logged URLs or messages (e.g. the notify callback token).
_SECRET_IN_TEXT = re.compile(
    r"((?:access_token|refresh_token|token|code|state|client_secret|signature|nonce)=)[^&\s\"']+",
    re.IGNORECASE,
)
REDACTED: Final = "[redacted]"
UVICORN_LOGGERS: Final = ("uvicorn", "uvicorn.error", "uvicorn.access")

# Attributes every stdlib LogRecord has; anything else was passed through `extra=`.
_RECORD_ATTRIBUTES: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


def redact_text(text: str) -> str:
    """`text` with the values of secret-bearing URL parameters replaced."""
    return _SECRET_IN_TEXT.sub(rf"\g<1>{REDACTED}", text)


def _redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event_dict.items()):
        if key == "event":
            event_dict[key] = redact_text(str(value))
        elif _SECRET_KEY.search(key) and value is not None:
            event_dict[key] = REDACTED
        elif isinstance(value, str):
            event_dict[key] = redact_text(value)
    return event_dict


def _stdlib_extra(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    record = event_dict.get("_record")
    if isinstance(record, logging.LogRecord):
        for key, value in vars(record).items():
            # uvicorn's `color_message` repeats the message with terminal colour codes.
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_") and key != "color_message":
                event_dict.setdefault(key, value)
    return event_dict


def configure_logging(*, level: str = "INFO", json: bool | None = None) -> None:
    """Route stdlib logging and structlog to one redacting renderer on stderr.

    `json=None` chooses: JSON lines when stderr is not a terminal (production), readable
    key=value lines on a terminal.
    """
    as_json = (not sys.stderr.isatty()) if json is None else json
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, _stdlib_extra],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _redact,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Libraries (alembic, SQLAlchemy, httpx) speak up only for warnings; Rookery at `level`.
    root.setLevel(logging.WARNING)
    logging.getLogger("rookery").setLevel(level)
    # uvicorn's access and error lines too, through the redactor rather than uvicorn's own
    # handlers: an access line shows the query, and the notify URL's holds a secret.
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(level)
