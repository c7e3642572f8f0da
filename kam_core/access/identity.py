"""From the identity provider's claims and the ``roles`` mapping of kam.toml to an ``Actor``;
and the sign-in providers configured in the ``[auth]`` section of ``.streamlit/secrets.toml``.

The mapping's keys are e-mail addresses, ``@domain`` (everyone whose e-mail ends so) or group
names as the provider puts them into the ID token (the claims named by the setting
``group_claims``: Entra ID's ``groups`` (object ids) and ``roles`` (app roles), Keycloak's
``groups``). A user gets every role of every entry that matches; the team member id comes from
the e-mail entry (else from the one other matching entry that has one).

>>> from kam_core.settings import Settings
>>> s = Settings({"roles": {"ben@example.com": {"role": "mentor", "member_id": "T-02"},
...                         "kam-admins": "admin"}})
>>> a = resolve_actor({"email": "Ben@Example.com", "name": "Ben", "groups": ["kam-admins"]}, s)
>>> a.role_label, a.member_id, a.identity
('admin, mentor', 'T-02', 'ben@example.com')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kam_core.access.model import Actor, Policy, Role

if TYPE_CHECKING:
    from kam_core.settings import Settings

# Claims that may hold the user's e-mail, in order (Entra ID has no email claim for accounts
# without a mailbox; its preferred_username is then the sign-in name, usually the e-mail).
EMAIL_CLAIMS = ("email", "preferred_username", "upn")


def policy(settings: Settings) -> Policy:
    """The rules' settings: ``sql_roles`` and ``scope_to_own_accounts``."""
    return Policy(sql_roles=frozenset(Role(r) for r in settings.sql_roles),
                  scope_to_own_accounts=bool(settings.scope_to_own_accounts))


def claim_email(claims: Mapping[str, Any]) -> str | None:
    """The user's e-mail, lower-cased, from the first claim that holds one."""
    for name in EMAIL_CLAIMS:
        value = claims.get(name)
        if isinstance(value, str) and "@" in value:
            return value.strip().casefold()
    return None


def claim_groups(claims: Mapping[str, Any], names: list[str] | tuple[str, ...]) -> list[str]:
    """The group names in the claims ``names`` (a list or a single text each), casefolded."""
    groups: list[str] = []
    for name in names:
        value = claims.get(name)
        values = [value] if isinstance(value, str) else value if isinstance(value, list | tuple) else []
        groups.extend(str(v).strip().casefold() for v in values if str(v).strip())
    return list(dict.fromkeys(groups))


def resolve_actor(claims: Mapping[str, Any], settings: Settings) -> Actor:
    """The signed-in user described by the ID token's ``claims`` (``st.user``)."""
    email = claim_email(claims)
    groups = claim_groups(claims, settings.group_claims)
    entries: dict[str, dict[str, str]] = settings.roles
    matched: list[tuple[str, dict[str, str]]] = []
    if email is not None:
        if email in entries:
            matched.append((email, entries[email]))
        domain = "@" + email.rsplit("@", 1)[1]
        if domain in entries:
            matched.append((domain, entries[domain]))
    matched.extend((g, entries[g]) for g in groups if g in entries and g != email)
    roles = frozenset(Role(e["role"]) for _, e in matched if e.get("role"))
    via = tuple(key for key, e in matched if e.get("role"))
    if not roles and settings.default_role != "none":
        roles, via = frozenset({Role(settings.default_role)}), ("default_role",)
    member_ids = [e["member_id"] for _, e in matched if e.get("member_id")]
    if email is not None and email in entries and entries[email].get("member_id"):
        member_id: str | None = entries[email]["member_id"]
    else:
        # without an e-mail entry of their own, a member id only when the matches agree on one
        member_id = member_ids[0] if len(set(member_ids)) == 1 else None
    identity = email or _text(claims.get("preferred_username")) or _text(claims.get("sub")) or "unknown"
    name = _text(claims.get("name")) or identity
    return Actor(identity=identity, name=name, roles=roles, member_id=member_id, signed_in=True,
                 policy=policy(settings), via=via)


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


# ---------------------------------------------------------------- providers


@dataclass(frozen=True)
class Provider:
    """One way to sign in: ``name`` is what ``st.login`` takes (None = the unnamed default)."""

    name: str | None
    label: str


KNOWN_LABELS = {"microsoft": "Microsoft", "entra": "Microsoft Entra ID", "azure": "Microsoft",
                "google": "Google", "keycloak": "Keycloak", "okta": "Okta", "auth0": "Auth0"}
PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")


def providers(auth: Mapping[str, Any] | None) -> list[Provider]:
    """The providers of an ``[auth]`` section: the unnamed default when the section itself has
    a ``client_id``, then every ``[auth.NAME]`` table with one, in the file's order.

    >>> [p.label for p in providers({"redirect_uri": "x", "cookie_secret": "y",
    ...     "google": {"client_id": "a", "client_secret": "b", "server_metadata_url": "c"},
    ...     "keycloak": {"client_id": "a", "client_secret": "b", "server_metadata_url": "c"}})]
    ['Google', 'Keycloak']
    """
    if not auth:
        return []
    found: list[Provider] = []
    if "client_id" in auth:
        found.append(Provider(None, "your company account"))
    for key, value in auth.items():
        if isinstance(value, Mapping) and "client_id" in value:
            found.append(Provider(str(key), KNOWN_LABELS.get(str(key).lower(), str(key).replace("-", " ").title())))
    return found


def auth_problems(auth: Mapping[str, Any] | None) -> list[str]:
    """What keeps an ``[auth]`` section from working, in words (empty = nothing found)."""
    if not auth:
        return []
    problems = [f"[auth] has no {key}" for key in ("redirect_uri", "cookie_secret") if not auth.get(key)]
    redirect = str(auth.get("redirect_uri") or "")
    if redirect and not redirect.rstrip("/").endswith("/oauth2callback"):
        problems.append(f"[auth] redirect_uri {redirect!r} must end with /oauth2callback")
    found = providers(auth)
    if not found:
        problems.append("[auth] names no provider: add client_id, client_secret and server_metadata_url "
                        "to [auth] or to an [auth.NAME] table")
    for p in found:
        table = auth if p.name is None else auth[p.name]
        missing = [k for k in PROVIDER_KEYS if not table.get(k)]
        if missing:
            where = "[auth]" if p.name is None else f"[auth.{p.name}]"
            problems.append(f"{where} has no {', '.join(missing)}")
        if p.name is not None and "_" in p.name:
            problems.append(f"[auth.{p.name}]: a provider's name must not contain an underscore")
    return problems
