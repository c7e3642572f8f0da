"""Exceptions of the core. Each message says what to fix."""


class KamError(Exception):
    """Base class: a problem the user can act on (message is shown as is)."""


class SettingsError(KamError):
    """A value in kam.toml (or given to the app) is not allowed."""


class FatalFileError(KamError):
    """A source file cannot be loaded at all (unreadable, empty, required column missing)."""


class LoadError(KamError):
    """The load as a whole cannot produce a database (e.g. no readable accounts table)."""


class InvalidSql(KamError):
    """The SQL box refused a statement."""


class QueryInterrupted(KamError):
    """A query ran past its time limit."""
