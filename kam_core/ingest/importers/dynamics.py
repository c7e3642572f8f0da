"""Dynamics 365 / Dataverse "Export to Excel" workbooks (.xlsx).

The first three columns are hidden: ``(Do Not Modify) <Entity>`` (the record's GUID),
``(Do Not Modify) Row Checksum`` and ``(Do Not Modify) Modified On``; then the view's columns
by display name, sometimes with stray spaces (`` Full Name``) and the related entity appended
(``Account Name (Account) (Account)``). Option sets come as labels, lookups as the related
record's *name*, not its GUID (facts: shared/formats/dynamics365.md).

Entities used: Account -> accounts, Contact -> contacts, Opportunity -> opportunities; owners
(names) -> team. Lookups by name (a contact's company, an opportunity's account, a parent
account) are resolved against the Account export of the same source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from kam_core.ingest.importers.common import (
    OWNER_KEY_MACRO,
    XLSX_SUFFIXES,
    BlankReason,
    RawTable,
    build_stg,
    display_of,
    drop,
    owner_team_stager,
    peek_xlsx_headers,
    stage_raw,
    temp_exists,
)
from kam_core.ingest.importers.mapping import TableMapping, apply_overrides
from kam_core.ingest.readers import Staged
from kam_core.ingest.sources import SourceFile

if TYPE_CHECKING:
    from kam_core.settings import Settings

DO_NOT_MODIFY = "(do not modify)"
ENTITIES = {"account": "accounts", "contact": "contacts", "opportunity": "opportunities"}
_SUFFIX = re.compile(r"\s*\([^()]*\)\s*$")


def dyn_key(header: str) -> str:
    """A display-name header as compared: trimmed, case-folded, ``(Entity)`` suffixes removed.

    >>> dyn_key(' Account Name (Account) (Account)')
    'account name'
    >>> dyn_key('(Do Not Modify) Account')
    '(do not modify) account'
    """
    text = " ".join(header.strip().casefold().split())
    if text.startswith(DO_NOT_MODIFY):
        return text
    while True:
        stripped = _SUFFIX.sub("", text)
        if stripped == text or not stripped:
            return text
        text = stripped


ACCOUNT = {
    "name": ("Account Name", "name"),
    "parent": ("Parent Account", "parentaccountid"),
    "owner": ("Owner", "ownerid"),
    "industry": ("Industry", "industrycode"),
    "country": ("Address 1: Country/Region", "Address 1: Country", "Country/Region", "address1_country"),
    "region": ("Address 1: State/Province", "State/Province", "address1_stateorprovince"),
    "annual_revenue": ("Annual Revenue", "revenue"),
}
CONTACT = {
    "name": ("Full Name", "fullname"),
    "first": ("First Name", "firstname"),
    "last": ("Last Name", "lastname"),
    "account": ("Company Name", "Account Name", "Parent Customer", "parentcustomerid"),
    "title": ("Job Title", "jobtitle"),
    "department": ("Department", "department"),
    "location": ("Address 1: City", "City", "address1_city"),
    "role": ("Role", "accountrolecode"),
    "status": ("Status", "statecode"),
}
OPPORTUNITY = {
    "name": ("Topic", "name"),
    "account": ("Account", "Potential Customer", "parentaccountid", "customerid"),
    "stage": ("Pipeline Phase", "Sales Stage", "stepname", "salesstage"),
    "status": ("Status", "statecode"),
    "status_reason": ("Status Reason", "statuscode"),
    "amount": ("Est. Revenue", "Estimated Revenue", "estimatedvalue"),
    "actual": ("Actual Revenue", "actualvalue"),
    "probability": ("Probability", "closeprobability"),
    "est_close": ("Est. Close Date", "Estimated Close Date", "estimatedclosedate"),
    "actual_close": ("Actual Close Date", "actualclosedate"),
    "created": ("Created On", "createdon"),
}

# statecode (Status) and statuscode (Status Reason) of an opportunity: labels and codes.
STATUS_MAP = {
    "open": "open",
    "offen": "open",
    "0": "open",
    "won": "won",
    "gewonnen": "won",
    "1": "won",
    "lost": "lost",
    "verloren": "lost",
    "2": "lost",
}
STATUS_REASON_MAP = {
    "in progress": "open",
    "on hold": "open",
    "1": "open",
    "2": "open",
    "won": "won",
    "3": "won",
    "canceled": "lost",
    "cancelled": "lost",
    "out-sold": "lost",
    "outsold": "lost",
    "4": "lost",
    "5": "lost",
}
# accountrolecode (Role) of a contact: 1 Decision Maker, 2 Employee (no buying role), 3 Influencer.
ROLE_MAP = {
    "decision maker": "decision_maker",
    "1": "decision_maker",
    "employee": "",
    "2": "",
    "influencer": "influencer",
    "3": "influencer",
}
ACTIVE_MAP = {
    "active": "true",
    "0": "true",
    "aktiv": "true",
    "inactive": "false",
    "1": "false",
    "inaktiv": "false",
}

ACCOUNT_NAME_ROWS_SQL = """
select lower(trim({name})) as name_key, {id} as account_id
from {raw} m
where kam_clean({name}) is not null
"""

ACCOUNT_NAMES_SQL = """
create or replace temp table dyn_account_names as
select name_key, min(account_id) as account_id, count(distinct account_id) as n
from ({rows})
group by 1
"""

GUID_RE = "\\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\\}?"


@dataclass
class DynamicsExport:
    files: list[tuple[str, Path, str]]  # (entity, path, sheet); an entity may come in several files
    base: Path
    displays: dict[Path, str] | None
    settings: Settings
    overrides: dict[str, TableMapping] = field(default_factory=dict)

    def display(self, path: Path) -> str:
        return display_of(path, self.base, self.displays)

    def raw(self, con: duckdb.DuckDBPyConnection, path: Path, sheet: str, name: str) -> RawTable:
        return stage_raw(con, path, name, self.display(path), sheet, key=dyn_key)

    def of(self, entity: str) -> list[tuple[Path, str]]:
        return [(p, s) for e, p, s in self.files if e == entity]


def detect(
    files: list[Path],
    base: Path,
    displays: dict[Path, str] | None,
    settings: Settings,
    overrides: dict[str, TableMapping],
) -> tuple[list[SourceFile], set[Path], list[str], list[str]] | None:

    found: list[tuple[str, Path, str]] = []
    ignored: list[str] = []
    consumed: set[Path] = set()
    owners: list[tuple[Path, str | None, str, str]] = []
    for p in files:
        if p.suffix.lower() not in XLSX_SUFFIXES:
            continue
        for sheet, header in peek_xlsx_headers(p).items():
            first = dyn_key(header[0]) if header else ""
            if not first.startswith(DO_NOT_MODIFY):
                continue
            entity = first[len(DO_NOT_MODIFY) :].strip()
            consumed.add(p)
            if entity in ENTITIES:
                found.append((entity, p, sheet))
                keys = {dyn_key(h): h for h in header}
                owner = next((keys[dyn_key(n)] for n in ("Owner", "ownerid") if dyn_key(n) in keys), None)
                if owner:
                    owners.append((p, sheet, display_of(p, base, displays), owner))
            else:
                ignored.append(
                    f"{display_of(p, base, displays)} (Dynamics 365 export of "
                    f"{entity or 'an unknown entity'}, not used by the KAM model)"
                )
            break
    if not found:
        return None
    exp = DynamicsExport(found, base, displays, settings, overrides)
    out: list[SourceFile] = []
    messages = ["Dynamics 365 export detected: " + ", ".join(f"{e} ({exp.display(p)})" for e, p, _ in found)]
    if owners:
        label = "owners in " + ", ".join(o[2] for o in owners)
        out.append(
            SourceFile(
                owners[0][0], label, "team", "derived", stager=owner_team_stager(owners, label, key=dyn_key)
            )
        )
        messages.append("team derived from the Owner columns; member_id = the owner's name in lower case")
    entities = {e for e, _, _ in found}
    if "account" not in entities and ({"contact", "opportunity"} & entities):
        messages.append(
            "no Account export: contacts and opportunities name their account, which cannot be "
            "resolved to an id without it"
        )
    stagers = {"account": _accounts, "contact": _contacts, "opportunity": _opportunities}
    for entity, path, sheet in found:
        out.append(
            SourceFile(
                path,
                exp.display(path),
                ENTITIES[entity],
                "xlsx",
                sheet,
                stager=lambda con, e=entity, p=path, sh=sheet: stagers[e](con, exp, p, sh),
            )
        )
    return out, consumed, messages, ignored


def _map_sql(expr: str, param: str) -> str:
    """A label or code through a fixed map (``$<param>_src/_dst``); unknown values pass on unchanged."""
    pos = f"list_position(${param}_src, lower(trim({expr})))"
    return f"(case when {pos} is not null then nullif(${param}_dst[{pos}], '') else {expr} end)"


def _params(params: dict[str, Any], name: str, mapping: dict[str, str]) -> None:
    params[f"{name}_src"] = list(mapping)
    params[f"{name}_dst"] = list(mapping.values())


def _account_names(con: duckdb.DuckDBPyConnection, exp: DynamicsExport) -> bool:
    """Lookup ``dyn_account_names`` (lower-cased name -> id, count) from every Account export."""
    if temp_exists(con, "dyn_account_names"):
        return True
    accounts = exp.of("account")
    if not accounts:
        return False
    parts = []
    for i, (path, sheet) in enumerate(accounts):
        raw = exp.raw(con, path, sheet, f"dyn_raw_account_names_{i}")
        parts.append(
            ACCOUNT_NAME_ROWS_SQL.format(
                name=raw.col(*ACCOUNT["name"]), id=f"m.{_id_ident(raw)}", raw=raw.name
            )
        )
    con.execute(ACCOUNT_NAMES_SQL.format(rows=" union all ".join(parts)))
    drop(con, *(f"dyn_raw_account_names_{i}" for i in range(len(accounts))))
    return True


def _id_ident(m: RawTable) -> str:
    return m.columns[dyn_key(m.headers[0])]


def _by_name(
    con: duckdb.DuckDBPyConnection,
    exp: DynamicsExport,
    m: RawTable,
    cell: str,
    what: str,
    alias: str,
    params: dict[str, Any],
    required: bool = True,
) -> tuple[str, str, str]:
    """(account id SQL, reason SQL, join SQL) for an account given by name (or GUID) in ``cell``.

    A required reference that names no account, or several, rejects the row with the reason;
    an optional one (a parent account) keeps the name, and the loader warns that it has no account.
    """
    has_names = _account_names(con, exp)
    params["dyn_accounts"] = ", ".join(exp.display(p) for p, _ in exp.of("account"))
    guid = f"regexp_full_match(trim({cell}), '{GUID_RE}')"
    if not required:
        if not has_names:
            return f"trim({cell})", "null::varchar", ""
        join = f"left join dyn_account_names {alias} on {alias}.name_key = lower(trim({cell}))"
        return (
            f"case when {guid} then trim({cell}) when {alias}.n = 1 then {alias}.account_id "
            f"else trim({cell}) end",
            "null::varchar",
            join,
        )
    if not has_names:
        expr = f"case when {guid} then trim({cell}) end"
        reason = (
            f"case when kam_clean({cell}) is not null and not {guid} then '{what} ' || kam_show({cell}) "
            f"|| ' names an account, but there is no Account export to find it in' end"
        )
        return expr, reason, ""
    join = f"left join dyn_account_names {alias} on {alias}.name_key = lower(trim({cell}))"
    expr = f"case when {guid} then trim({cell}) when {alias}.n = 1 then {alias}.account_id end"
    reason = (
        f"case when kam_clean({cell}) is not null and not {guid} and {alias}.n is null "
        f"then '{what} ' || kam_show({cell}) || ' names no account in ' || $dyn_accounts "
        f"when kam_clean({cell}) is not null and not {guid} and {alias}.n > 1 "
        f"then '{what} ' || kam_show({cell}) || ' matches ' || {alias}.n || ' accounts in ' || $dyn_accounts || ': "
        f"ambiguous' end"
    )
    return expr, reason, join


def _finish(
    con: duckdb.DuckDBPyConnection,
    exp: DynamicsExport,
    table: str,
    m: RawTable,
    exprs: dict[str, str],
    from_sql: str,
    reasons: list[str | BlankReason],
    params: dict[str, Any],
    groups: dict[str, tuple[str, ...]],
) -> Staged:
    used = apply_overrides(table, exprs, m, exp.overrides.get(table), params)
    used |= {h for g in groups.values() if (h := m.find(*g))}
    hidden = set(m.headers[:3])
    extra = [h for h in m.headers if h.strip() and h not in used and h not in hidden]
    return build_stg(con, m, exprs, from_sql, reasons, params, extra, decimal_comma=None)


def _accounts(con: duckdb.DuckDBPyConnection, exp: DynamicsExport, path: Path, sheet: str) -> Staged:
    con.execute(OWNER_KEY_MACRO)
    m = exp.raw(con, path, sheet, "dyn_raw_account")
    params: dict[str, Any] = {}
    parent, parent_reason, join = _by_name(
        con, exp, m, m.col(*ACCOUNT["parent"]), "Parent Account", "pa", params, required=False
    )
    exprs = {
        "account_id": f"m.{_id_ident(m)}",
        "name": m.col(*ACCOUNT["name"]),
        "industry": m.col(*ACCOUNT["industry"]),
        "region": m.col(*ACCOUNT["region"]),
        "country": m.col(*ACCOUNT["country"]),
        "parent_account_id": parent,
        "account_manager_id": f"kam_owner_key({m.col(*ACCOUNT['owner'])})",
        "annual_revenue": m.col(*ACCOUNT["annual_revenue"]),
    }
    staged = _finish(
        con, exp, "accounts", m, exprs, f"from {m.name} m {join}", [parent_reason], params, ACCOUNT
    )
    return staged


def _contacts(con: duckdb.DuckDBPyConnection, exp: DynamicsExport, path: Path, sheet: str) -> Staged:
    m = exp.raw(con, path, sheet, "dyn_raw_contact")
    params: dict[str, Any] = {}
    _params(params, "dyn_role", ROLE_MAP)
    _params(params, "dyn_active", ACTIVE_MAP)
    account, account_reason, join = _by_name(
        con, exp, m, m.col(*CONTACT["account"]), "Company Name", "a", params
    )
    first_last = (
        f"nullif(trim(concat_ws(' ', kam_clean({m.col(*CONTACT['first'])}), "
        f"kam_clean({m.col(*CONTACT['last'])}))), '')"
    )
    exprs = {
        "contact_id": f"m.{_id_ident(m)}",
        "account_id": account,
        "name": f"coalesce(kam_clean({m.col(*CONTACT['name'])}), {first_last})",
        "title": m.col(*CONTACT["title"]),
        "department": m.col(*CONTACT["department"]),
        "location": m.col(*CONTACT["location"]),
        "buying_role": _map_sql(m.col(*CONTACT["role"]), "dyn_role"),
        "is_active": _map_sql(m.col(*CONTACT["status"]), "dyn_active"),
    }
    staged = _finish(
        con, exp, "contacts", m, exprs, f"from {m.name} m {join}", [BlankReason(account_reason, ("account_id",))],
        params, CONTACT
    )
    return staged


def _opportunities(con: duckdb.DuckDBPyConnection, exp: DynamicsExport, path: Path, sheet: str) -> Staged:
    m = exp.raw(con, path, sheet, "dyn_raw_opportunity")
    params: dict[str, Any] = {}
    _params(params, "dyn_status", STATUS_MAP)
    _params(params, "dyn_reason", STATUS_REASON_MAP)
    account, account_reason, join = _by_name(
        con, exp, m, m.col(*OPPORTUNITY["account"]), "Account", "a", params
    )
    status = m.col(*OPPORTUNITY["status"])
    reason_col = m.col(*OPPORTUNITY["status_reason"])
    status_sql = (
        f"case when kam_clean({status}) is not null then {_map_sql(status, 'dyn_status')} "
        f"else {_map_sql(reason_col, 'dyn_reason')} end"
    )
    closed = f"({status_sql}) in ('won', 'lost')"
    probability = m.col(*OPPORTUNITY["probability"])
    exprs = {
        "opportunity_id": f"m.{_id_ident(m)}",
        "account_id": account,
        "name": m.col(*OPPORTUNITY["name"]),
        "stage": f"coalesce(kam_clean({m.col(*OPPORTUNITY['stage'])}), kam_clean({reason_col}))",
        "status": status_sql,
        # a won deal's actual revenue where given, else the estimate
        "amount": (
            f"case when ({status_sql}) = 'won' and kam_clean({m.col(*OPPORTUNITY['actual'])}) is not null "
            f"then {m.col(*OPPORTUNITY['actual'])} else {m.col(*OPPORTUNITY['amount'])} end"
        ),
        # closeprobability is an integer percentage 0-100: divided here, so that 1 means 1 %
        "probability": (
            f"case when kam_num({probability}, false) is null then {probability} "
            f"else cast(kam_num({probability}, false) / 100 as varchar) end"
        ),
        "created_date": m.col(*OPPORTUNITY["created"]),
        "close_date": (
            f"case when {closed} then coalesce(kam_clean({m.col(*OPPORTUNITY['actual_close'])}), "
            f"{m.col(*OPPORTUNITY['est_close'])}) else {m.col(*OPPORTUNITY['est_close'])} end"
        ),
    }
    staged = _finish(
        con, exp, "opportunities", m, exprs, f"from {m.name} m {join}", [BlankReason(account_reason, ("account_id",))],
        params, OPPORTUNITY
    )
    return staged
