"""The checks of the access settings declared in ``kam_core.settings`` (``roles``,
``default_role``, ``scope_to_own_accounts``, ``sql_roles``, ``group_claims``): each returns the
cleaned value or raises ``ValueError("expected …")`` like every other setting's check.

>>> role_mapping({"Ben@Example.com": {"role": "Mentor", "member_id": "T-02"}, "kam-admins": "admin"})
{'ben@example.com': {'role': 'mentor', 'member_id': 'T-02'}, 'kam-admins': {'role': 'admin'}}
>>> role_mapping({"ben@example.com": "boss"})
Traceback (most recent call last):
...
ValueError: entry 'ben@example.com': role 'boss' is not a role; expected one of admin, management, mentor, account_manager, viewer
"""

from __future__ import annotations

from typing import Any

from kam_core.access.model import ROLE_NAMES

ENTRY_KEYS = ("role", "member_id")


def role_name(value: Any) -> str:
    """A role's name: 'Account manager', 'account-manager' and 'account_manager' are the same."""
    if isinstance(value, str):
        name = value.strip().lower().replace(" ", "_").replace("-", "_")
        if name in ROLE_NAMES:
            return name
    raise ValueError(f"role {value!r} is not a role; expected one of {', '.join(ROLE_NAMES)}")


def role_mapping(value: Any) -> dict[str, dict[str, str]]:
    """``roles``: e-mail, @domain or group → role, or → {role, member_id}; keys casefolded."""
    if not isinstance(value, dict):
        raise ValueError('expected a table of entries such as "ben@example.com" = { role = "mentor", '
                         'member_id = "T-02" } or "kam-admins" = "admin"')
    out: dict[str, dict[str, str]] = {}
    for raw_key, entry in value.items():
        key = str(raw_key).strip().casefold()
        where = f"entry {raw_key!r}"
        if not key:
            raise ValueError("an entry has an empty name; expected an e-mail, @domain or group")
        if key in out:
            raise ValueError(f"{where} appears twice (names are compared without case)")
        if isinstance(entry, str):
            entry = {"role": entry}
        if not isinstance(entry, dict):
            raise ValueError(f'{where}: expected a role ("mentor") or a table {{ role = "mentor", member_id = "T-02" }}')
        unknown = sorted(set(entry) - set(ENTRY_KEYS))
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; expected role and member_id")
        if "role" not in entry and "member_id" not in entry:
            raise ValueError(f"{where}: expected a role, a member_id or both")
        cleaned: dict[str, str] = {}
        if "role" in entry:
            try:
                cleaned["role"] = role_name(entry["role"])
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
        if "member_id" in entry:
            member = entry["member_id"]
            if not isinstance(member, str) or not member.strip():
                raise ValueError(f"{where}: member_id {member!r}: expected a team member id (text)")
            cleaned["member_id"] = member.strip()
        out[key] = cleaned
    return out


def default_role(value: Any) -> str:
    """``default_role``: none (refused) or viewer."""
    if isinstance(value, str) and value.strip().lower() in ("none", "viewer"):
        return value.strip().lower()
    raise ValueError("expected none or viewer")


def flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def role_list(value: Any) -> list[str]:
    """``sql_roles``: a list of role names (may be empty: no one)."""
    if not isinstance(value, list | tuple):
        raise ValueError(f"expected a list of roles out of {', '.join(ROLE_NAMES)}")
    names = [role_name(v) for v in value]
    return [r for r in ROLE_NAMES if r in names]


def claim_names(value: Any) -> list[str]:
    """``group_claims``: the ID-token claims that hold group names."""
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError('expected a list of claim names such as ["groups", "roles"]')
    return list(dict.fromkeys(v.strip() for v in value))
