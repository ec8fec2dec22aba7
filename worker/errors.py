"""One error tree for newswatch, translated to retries or records at the edges.

TransientError: worth retrying (timeouts, connection errors, 429, 5xx).
PermanentError: bad input; record it on the row and move on.
ConfigError: a user-written file is wrong; carries file:line:column.
"""

from __future__ import annotations


class NewswatchError(Exception):
    """Base of every error newswatch raises on purpose."""


class TransientError(NewswatchError):
    """A failure that may go away by itself: retry with backoff."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(NewswatchError):
    """A failure that will not go away by retrying: record it and go on."""


class ConfigError(NewswatchError):
    """A configuration file is invalid. str() gives `file:line:col: message`."""

    def __init__(
        self,
        message: str,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        super().__init__(str(self))

    def __str__(self) -> str:
        where = [str(p) for p in (self.file, self.line, self.column) if p is not None]
        return f"{':'.join(where)}: {self.message}" if where else self.message


class ConfigErrors(ConfigError):
    """Several configuration errors found in one pass (all are reported, not only the first)."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)
