"""Typed errors: permanent ones go to the dead-letter queue at once, transient ones are retried.

Messages of these exceptions end up in logs and DLQ attributes: never put a secret in them.
"""

from __future__ import annotations


class AdJoinError(Exception):
    """Base class of every error the engine raises on purpose."""

    #: short machine-readable reason code (DLQ `reason` attribute, metric dimension)
    reason: str = "error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class PermanentError(AdJoinError):
    """Retrying cannot help: malformed event, unknown account, invalid tag, bad configuration."""

    reason = "permanent"


class TransientError(AdJoinError):
    """Retrying later can help: throttling, agent not online yet, directory unreachable.

    `retry_after` is the wait in seconds the service asked for (`RetryAfterSeconds` or an HTTP
    `Retry-After` header), if it asked: the engine waits at least that long.
    """

    reason = "transient"

    def __init__(
        self, message: str, *, reason: str | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(message, reason=reason)
        self.retry_after = retry_after


class DirectoryError(PermanentError):
    """The directory refused the operation (access denied, constraint violation)."""

    reason = "directory_error"


class DirectoryUnavailable(TransientError):
    """The directory could not be reached or timed out."""

    reason = "directory_unavailable"
