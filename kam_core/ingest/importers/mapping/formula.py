"""Arithmetic over a file's columns for a mapping's ``[tables.X.formulas]``.

A formula is numbers, headers, ``+ - * /`` and parentheses: ``unitPrice * quantity * (1 - discount)``.
A header with spaces or other characters is written in double quotes (``"Unit Price" * Qty``);
``<lookup>.<header>`` names a lookup's column. Nothing else is accepted, so a formula can
never become SQL of its own: it is parsed here and turned into SQL with every header through
the caller's resolver and every number as a literal.

>>> parse_formula('"Unit Price" * qty * (1 - disc)', "f")
('*', ('*', ('ref', 'Unit Price'), ('ref', 'qty')), ('-', ('num', '1'), ('ref', 'disc')))
>>> formula_sql(parse_formula("a / 2", "f"), lambda h: f"col({h})")
'(col(a) / 2)'
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kam_core.ingest.importers.mapping.model import MappingError

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>\d+(?:\.\d+)?)
      | "(?P<quoted>(?:[^"]|"")*)"
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.(?:[A-Za-z_][A-Za-z0-9_]*|"(?:[^"]|"")*"))?)
      | (?P<op>[-+*/()])
    )""",
    re.VERBOSE,
)

Node = tuple[Any, ...]


def _tokens(text: str, where: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise MappingError(f"{where}: cannot read the formula at {text[pos:pos + 12]!r}; use numbers, "
                               'headers (in "double quotes" when they have spaces), + - * / and parentheses')
        pos = m.end()
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "quoted":
            kind, value = "name", value.replace('""', '"')
        elif kind == "name" and '."' in value:
            alias, _, header = value.partition(".")
            value = f"{alias}.{header[1:-1].replace(chr(34) * 2, chr(34))}"
        out.append((kind, value))
    return out


def parse_formula(text: str, where: str) -> Node:
    """The formula's tree: ``('num', '1')``, ``('ref', header)``, ``(op, left, right)``, ``('neg', x)``."""
    tokens = _tokens(text, where)
    pos = 0

    def peek() -> tuple[str, str] | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal pos
        if pos >= len(tokens):
            raise MappingError(f"{where}: the formula {text!r} ends too early")
        pos += 1
        return tokens[pos - 1]

    def expr() -> Node:
        node = term()
        while (t := peek()) and t in (("op", "+"), ("op", "-")):
            take()
            node = (t[1], node, term())
        return node

    def term() -> Node:
        node = factor()
        while (t := peek()) and t in (("op", "*"), ("op", "/")):
            take()
            node = (t[1], node, factor())
        return node

    def factor() -> Node:
        kind, value = take()
        if (kind, value) == ("op", "-"):
            return ("neg", factor())
        if (kind, value) == ("op", "("):
            node = expr()
            if peek() != ("op", ")"):
                raise MappingError(f"{where}: a parenthesis of {text!r} is not closed")
            if take() != ("op", ")"):
                raise MappingError(f"{where}: a parenthesis of {text!r} is not closed")
            return node
        if kind == "num":
            return ("num", value)
        if kind == "name":
            return ("ref", value)
        raise MappingError(f"{where}: unexpected {value!r} in the formula {text!r}")

    if not tokens:
        raise MappingError(f"{where}: the formula is empty")
    tree = expr()
    if pos != len(tokens):
        raise MappingError(f"{where}: unexpected {tokens[pos][1]!r} in the formula {text!r}")
    return tree


def formula_refs(tree: Node) -> list[str]:
    """The headers a formula names, in order of appearance, each once."""
    out: list[str] = []

    def walk(node: Node) -> None:
        if node[0] == "ref":
            if node[1] not in out:
                out.append(node[1])
        elif node[0] != "num":
            for child in node[1:]:
                walk(child)

    walk(tree)
    return out


def formula_sql(tree: Node, resolve: Callable[[str], str]) -> str:
    """SQL for the tree; ``resolve`` turns a header into the SQL of its number."""
    kind = tree[0]
    if kind == "num":
        return tree[1]
    if kind == "ref":
        return resolve(tree[1])
    if kind == "neg":
        return f"(- {formula_sql(tree[1], resolve)})"
    return f"({formula_sql(tree[1], resolve)} {kind} {formula_sql(tree[2], resolve)})"
