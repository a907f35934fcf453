"""Domain errors, raised by storage and services; only `rookery.api.errors` turns them into HTTP."""

from __future__ import annotations


class RookeryError(Exception):
    """Base of every domain error; the message is safe to show to the caller (never a secret)."""


class InvalidInputError(RookeryError):
    """The caller's input breaks a rule (a bad webhook URL, a malformed user id, ...)."""


class UnauthenticatedError(RookeryError):
    """The credentials are missing or wrong."""


class NotFoundError(RookeryError):
    """The thing asked for does not exist, or is not the caller's to see."""


class ConflictError(RookeryError):
    """The request contradicts the current state (an existing record, a used OAuth state, ...)."""


class RateLimitedError(RookeryError):
    """Too many requests; try again after `retry_after_s` seconds."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
