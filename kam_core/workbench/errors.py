"""The workbench's refusals. Each message says what was refused and what to do; the editors
show it as it is and keep the user's input."""

from __future__ import annotations

from dataclasses import dataclass

from kam_core.errors import KamError


class WorkbenchError(KamError):
    """A write or read of the workbench cannot be done as asked (unknown table, bad key …)."""


class StoreError(WorkbenchError):
    """The store file cannot be opened (not a store, written by a newer version …)."""


@dataclass(frozen=True)
class Problem:
    """One refused value: the table, the record's key as shown, the column and the reason in
    the loader's words (``attitude 'hostile' is not one of: champion, …``)."""

    table: str
    key: str
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.table} {self.key}" if self.key else self.table
        return f"{where}: {self.reason}"


class ValidationError(WorkbenchError):
    """A value breaks the schema's rules; ``problems`` names each column (for the editor)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


class ConflictError(WorkbenchError):
    """The record changed since the user saw it: the save is refused, the input is kept.

    ``changed_by`` and ``changed_at`` say who changed it and when (UTC).
    """

    def __init__(self, message: str, changed_by: str | None = None, changed_at: str | None = None) -> None:
        self.changed_by = changed_by
        self.changed_at = changed_at
        super().__init__(message)


class PermissionDenied(WorkbenchError):
    """Raised by an ``authorize`` hook (sign-in and roles) to refuse a write; the message
    should name the role the action needs."""
