"""Quoting helpers: the only way identifiers and code constants enter SQL text.

Values from users always travel as DuckDB parameters; these helpers exist for identifiers
(column names of a Parquet file) and for literals that come from code (enumerations).

>>> quote_ident('we"ird')
'"we""ird"'
>>> quote_literal("it's")
"'it''s'"
"""

from __future__ import annotations


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def literal_list(values: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(quote_literal(v) for v in values) + "]"
