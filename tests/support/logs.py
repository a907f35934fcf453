"""Tests that configure logging leave it as they found it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

from rookery.logs import UVICORN_LOGGERS


@contextmanager
def logging_restored() -> Iterator[None]:
    """Run the block, then restore the handlers, levels and propagation `configure_logging`
    changes, and structlog's defaults."""
    loggers = [logging.getLogger(name) for name in ("", "rookery", *UVICORN_LOGGERS)]
    saved = [(logger, logger.handlers[:], logger.level, logger.propagate) for logger in loggers]
    try:
        yield
    finally:
        for logger, handlers, level, propagate in saved:
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate = propagate
        structlog.reset_defaults()
