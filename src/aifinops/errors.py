"""Errors a user sees: each says what went wrong, where, and what to do about it."""

from __future__ import annotations


class AifinopsError(Exception):
    """An error meant for the user; the CLI prints it without a traceback.

    ``where`` is a location such as ``costs.csv:12, column BilledCost``; ``hint`` says what to do.
    """

    def __init__(self, what: str, *, where: str | None = None, hint: str | None = None) -> None:
        self.what = what
        self.where = where
        self.hint = hint
        super().__init__(self.message)

    @property
    def message(self) -> str:
        parts = [f"{self.where}: {self.what}" if self.where else self.what]
        if self.hint:
            parts.append(f"  hint: {self.hint}")
        return "\n".join(parts)


class WorkspaceNotFoundError(AifinopsError):
    """No workspace at the given or discovered location."""


class WorkspaceBusyError(AifinopsError):
    """Another process holds the workspace database (DuckDB allows one writer)."""


class IngestError(AifinopsError):
    """An input file could not be ingested; the store is unchanged."""


class ConfigError(AifinopsError):
    """The workspace configuration is invalid."""


class QueryError(AifinopsError):
    """A report or SQL query could not run."""
