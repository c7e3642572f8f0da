"""HubSpot CRM exports: companies, contacts and deals (CSV, XLSX or XLS-as-XLSX).

Headers are property *labels* in the exporting user's language ("Record ID", "Datensatz-ID",
"ID de registro"), or internal names (``hs_object_id``) with the "internal names" option.
Associations come as extra columns (``Associated Company IDs``, ``;``-joined; newer exports
add ``Associated Company IDs (Primary)``); owners are names (``Company owner``), not ids.
Facts and their sources: shared/formats/hubspot.md. Labels beyond those facts (most German
and Spanish ones) are best guesses and listed as such in docs/importing.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from kam_core.ingest.importers.common import (
    OWNER_KEY_MACRO,
    TABULAR_SUFFIXES,
    XLSX_SUFFIXES,
    BlankReason,
    RawTable,
    add_warnings,
    build_stg,
    display_of,
    owner_team_stager,
    peek_header,
    stage_raw,
    value_map,
)
from kam_core.ingest.importers.mapping import TableMapping, apply_overrides
from kam_core.ingest.readers import Staged
from kam_core.ingest.schema import BUYING_ROLES
from kam_core.ingest.sources import SourceFile

if TYPE_CHECKING:
    from kam_core.settings import Settings

# Property labels per concept: English, German, Spanish labels and internal names.
RECORD_ID = ("Record ID", "Datensatz-ID", "ID de registro", "hs_object_id")
COMPANY = {
    "name": ("Company name", "Firmenname", "Nombre de la empresa", "Unternehmensname", "name"),
    "industry": ("Industry", "Branche", "Sector", "industry"),
    "country": ("Country/Region", "Land/Region", "País/región", "country"),
    "region": ("State/Region", "Bundesland/Region", "Estado/Región", "state"),
    "annual_revenue": ("Annual Revenue", "Jahresumsatz", "Ingresos anuales", "annualrevenue"),
    "owner": (
        "Company owner",
        "Firmeninhaber",
        "Unternehmensinhaber",
        "Propietario de la empresa",
        "hubspot_owner_id",
    ),
    "parent": ("Parent Company ID", "Parent Company", "Übergeordnetes Unternehmen", "hs_parent_company_id"),
}
CONTACT = {
    "first": ("First Name", "Vorname", "Nombre", "firstname"),
    "last": ("Last Name", "Nachname", "Apellidos", "lastname"),
    "title": ("Job Title", "Berufsbezeichnung", "Position", "Cargo", "jobtitle"),
    "department": ("Department", "Abteilung", "Departamento", "hs_department"),
    "location": ("City", "Stadt", "Ort", "Ciudad", "city"),
    "buying_role": ("Buying Role", "Buying role", "Einkaufsrolle", "Rol de compra", "hs_buying_role"),
    "owner": ("Contact owner", "Kontaktinhaber", "Propietario del contacto", "hubspot_owner_id"),
}
DEAL = {
    "name": ("Deal Name", "Deal-Name", "Dealname", "Nombre del negocio", "dealname"),
    "stage": ("Deal Stage", "Deal-Phase", "Dealphase", "Etapa del negocio", "dealstage"),
    "amount": (
        "Amount in company currency",
        "Betrag in Unternehmenswährung",
        "Amount",
        "Betrag",
        "Importe",
        "amount",
    ),
    "probability": (
        "Deal probability",
        "Deal-Wahrscheinlichkeit",
        "Probabilidad del negocio",
        "hs_deal_stage_probability",
    ),
    "close_date": ("Close Date", "Abschlussdatum", "Schließdatum", "Fecha de cierre", "closedate"),
    "created": ("Create Date", "Erstellungsdatum", "Erstelldatum", "Fecha de creación", "createdate"),
    "owner": ("Deal owner", "Deal-Inhaber", "Dealinhaber", "Propietario del negocio", "hubspot_owner_id"),
    "is_won": ("Is Closed Won", "hs_is_closed_won"),
    "is_closed": ("Is Deal Closed?", "Is closed", "hs_is_closed"),
}
PRIMARY_COMPANY = (
    "Associated Company IDs (Primary)",
    "Primary Associated Company ID",
    "Associated Company ID (Primary)",
    "associatedcompanyid",
)
COMPANY_IDS = ("Associated Company IDs", "Associated Company ID", "Zugeordnete Unternehmens-IDs")

# Deal stage labels and internal values of closed stages (default pipeline; German/Spanish guesses).
WON_STAGES = ("closed won", "closedwon", "abgeschlossen und gewonnen", "gewonnen", "cerrado ganado", "won")
LOST_STAGES = (
    "closed lost",
    "closedlost",
    "abgeschlossen und verloren",
    "verloren",
    "cerrado perdido",
    "lost",
)

# HubSpot's "Buying Role" options -> buying_role ("" = deliberately none).
ROLE_MAP: dict[str, str] = {
    "decision maker": "decision_maker",
    "decision_maker": "decision_maker",
    "budget holder": "economic_buyer",
    "budget_holder": "economic_buyer",
    "executive sponsor": "decision_maker",
    "executive_sponsor": "decision_maker",
    "influencer": "influencer",
    "end user": "user",
    "end_user": "user",
    "champion": "coach",
    "blocker": "gatekeeper",
    "legal and compliance": "",
    "legal_and_compliance": "",
    "other": "",
    **{r.replace("_", " "): r for r in BUYING_ROLES},
    **{r: r for r in BUYING_ROLES},
}

KINDS = {"companies": "accounts", "contacts": "contacts", "deals": "opportunities"}

MULTI_COMPANY_WARNINGS_SQL = """
select
    m._row,
    {ids} as value,
    'associated with ' || len(string_split({ids}, ';')) || ' companies and none is marked primary: '
        || 'the first (' || trim(string_split({ids}, ';')[1]) || ') is used' as message
from {raw} m
where kam_clean({primary}) is null and len(list_filter(string_split({ids}, ';'), lambda x: trim(x) <> '')) > 1
"""


def _kind(path: Path, header: list[str]) -> str | None:
    keys = {" ".join(h.strip().casefold().split()) for h in header}

    def has(names: tuple[str, ...]) -> bool:
        return any(n.casefold() in keys for n in names)

    if not has(RECORD_ID):
        return None
    stem = path.stem.casefold()
    for word, kind in (("compan", "companies"), ("contact", "contacts"), ("deal", "deals")):
        if word in stem:
            return kind
    if has(DEAL["name"]) or has(DEAL["stage"]):
        return "deals"
    if has(CONTACT["first"]) and has(CONTACT["last"]):
        return "contacts"
    if has(COMPANY["name"]):
        return "companies"
    return None


@dataclass
class HubSpotExport:
    files: list[tuple[str, Path]]  # (kind, path); a large export comes as several files per kind
    base: Path
    displays: dict[Path, str] | None
    settings: Settings
    overrides: dict[str, TableMapping] = field(default_factory=dict)
    owners: list[tuple[Path, str]] = field(default_factory=list)  # (file, owner header)

    def display(self, path: Path) -> str:
        return display_of(path, self.base, self.displays)

    def raw(self, con: duckdb.DuckDBPyConnection, path: Path, name: str) -> RawTable:
        return stage_raw(con, path, name, self.display(path))


def detect(
    files: list[Path],
    base: Path,
    displays: dict[Path, str] | None,
    settings: Settings,
    overrides: dict[str, TableMapping],
) -> tuple[list[SourceFile], set[Path], list[str], list[str]] | None:

    found: list[tuple[str, Path]] = []
    exp = HubSpotExport(found, base, displays, settings, overrides)
    for p in files:
        if p.suffix.lower() not in TABULAR_SUFFIXES:
            continue
        header = peek_header(p)
        kind = _kind(p, header)
        if kind is None:
            continue
        found.append((kind, p))
        names = {" ".join(h.strip().casefold().split()): h for h in header}
        wanted = {"companies": COMPANY["owner"], "contacts": CONTACT["owner"], "deals": DEAL["owner"]}[kind]
        owner = next((names[n.casefold()] for n in wanted if n.casefold() in names), None)
        if owner:
            exp.owners.append((p, owner))
    if not found:
        return None
    out: list[SourceFile] = []
    messages = ["HubSpot export detected: " + ", ".join(f"{k} ({exp.display(p)})" for k, p in found)]
    if exp.owners:
        owner_sources = [(p, None, exp.display(p), h) for p, h in exp.owners]
        label = "owners in " + ", ".join(exp.display(p) for p, _ in exp.owners)
        out.append(
            SourceFile(
                exp.owners[0][0], label, "team", "derived", stager=owner_team_stager(owner_sources, label)
            )
        )
        messages.append(
            "team derived from the owner names ("
            + ", ".join(dict.fromkeys(h for _, h in exp.owners))
            + "); member_id = the name in lower case"
        )
    stagers = {"companies": _accounts, "contacts": _contacts, "deals": _opportunities}
    for kind, path in found:
        fmt = "xlsx" if path.suffix.lower() in XLSX_SUFFIXES else "csv"
        out.append(
            SourceFile(
                path,
                exp.display(path),
                KINDS[kind],
                fmt,
                stager=lambda con, k=kind, p=path: stagers[k](con, exp, p),
            )
        )
    return out, {p for _, p in found}, messages, []


def _company_of(m: RawTable) -> tuple[str, str, str]:
    """(company id SQL, primary column SQL, id-list column SQL): primary, else the first listed."""
    primary = m.col(*PRIMARY_COMPANY)
    ids = m.col(*COMPANY_IDS)
    first = f"nullif(trim(string_split(kam_clean({ids}), ';')[1]), '')"
    return f"coalesce(nullif(trim(kam_clean({primary})), ''), {first})", primary, ids


def _finish(
    con: duckdb.DuckDBPyConnection,
    exp: HubSpotExport,
    table: str,
    m: RawTable,
    exprs: dict[str, str],
    reasons: list[str | BlankReason],
    params: dict[str, Any],
    mapped: set[str],
) -> Staged:
    used = apply_overrides(table, exprs, m, exp.overrides.get(table), params) | mapped
    extra = [h for h in m.headers if h.strip() and h not in used]
    return build_stg(con, m, exprs, f"from {m.name} m", reasons, params, extra, decimal_comma=None)


def _mapped(m: RawTable, *groups: tuple[str, ...]) -> set[str]:
    return {h for g in groups if (h := m.find(*g))}


def _accounts(con: duckdb.DuckDBPyConnection, exp: HubSpotExport, path: Path) -> Staged:
    con.execute(OWNER_KEY_MACRO)
    m = exp.raw(con, path, "hs_raw_companies")
    parent = m.col(*COMPANY["parent"])
    exprs = {
        "account_id": m.col(*RECORD_ID),
        "name": m.col(*COMPANY["name"]),
        "industry": m.col(*COMPANY["industry"]),
        "region": m.col(*COMPANY["region"]),
        "country": m.col(*COMPANY["country"]),
        # a parent given by name is looked up among the companies (unique names only)
        "parent_account_id": _parent_sql(m, parent),
        "account_manager_id": f"kam_owner_key({m.col(*COMPANY['owner'])})",
        "annual_revenue": m.col(*COMPANY["annual_revenue"]),
    }
    staged = _finish(con, exp, "accounts", m, exprs, [], {}, _mapped(m, RECORD_ID, *COMPANY.values()))
    return staged


def _parent_sql(m: RawTable, parent: str) -> str:
    """A parent given by record id is kept; one given by name is looked up (unique names only)."""
    if not m.has(*COMPANY["parent"]) or not m.has(*COMPANY["name"]):
        return parent
    pid, pname = m.col(*RECORD_ID, alias="p"), m.col(*COMPANY["name"], alias="p")
    return (
        f"case when regexp_full_match(trim({parent}), '\\d+') then trim({parent}) "
        f"else coalesce((select any_value({pid}) from {m.name} p "
        f"where lower(trim({pname})) = lower(trim({parent})) having count(*) = 1), {parent}) end"
    )


def _contacts(con: duckdb.DuckDBPyConnection, exp: HubSpotExport, path: Path) -> Staged:
    m = exp.raw(con, path, "hs_raw_contacts")
    company, primary, ids = _company_of(m)
    params: dict[str, Any] = {}
    role_map = value_map(ROLE_MAP, exp.overrides, "contacts", "buying_role")
    override = exp.overrides.get("contacts")
    params.update(
        hs_role_src=list(role_map), hs_role_dst=list(role_map.values()), hs_role_order=list(BUYING_ROLES)
    )
    role = m.col(*CONTACT["buying_role"])
    # a multi-select value ("Decision maker;Budget holder") gives the first role in buying_role
    # order; a value that maps to no role is passed on, so the loader rejects it naming the roles
    parts = f"string_split({role}, ';')"
    roles = (
        f"list_filter(list_transform({parts}, lambda x: $hs_role_dst[list_position($hs_role_src, lower(trim(x)))]), "
        f"lambda x: x is not null and x <> '')"
    )
    best = f"$hs_role_order[list_min(list_transform({roles}, lambda x: list_position($hs_role_order, x)))]"
    unknown = (
        f"not list_bool_and(list_transform({parts}, "
        f"lambda x: trim(x) = '' or list_position($hs_role_src, lower(trim(x))) is not null))"
    )
    role_sql = f"case when kam_clean({role}) is null then null when {unknown} then {role} else {best} end"
    exprs = {
        "contact_id": m.col(*RECORD_ID),
        "account_id": company,
        "name": f"nullif(trim(concat_ws(' ', kam_clean({m.col(*CONTACT['first'])}), "
        f"kam_clean({m.col(*CONTACT['last'])}))), '')",
        "title": m.col(*CONTACT["title"]),
        "department": m.col(*CONTACT["department"]),
        "location": m.col(*CONTACT["location"]),
        "buying_role": role_sql,
    }
    reasons: list[str | BlankReason] = [BlankReason(
        f"case when {company} is null then 'the contact is associated with no company "
        f"(Associated Company IDs is blank)' end", ("account_id",))]
    mapped = _mapped(m, RECORD_ID, *CONTACT.values(), PRIMARY_COMPANY, COMPANY_IDS)
    used = apply_overrides("contacts", exprs, m, override, params) | mapped
    extra = [h for h in m.headers if h.strip() and h not in used]
    staged = build_stg(con, m, exprs, f"from {m.name} m", reasons, params, extra, decimal_comma=None)
    if m.has(*COMPANY_IDS):
        add_warnings(
            con,
            m.display,
            "contacts",
            "account_id",
            MULTI_COMPANY_WARNINGS_SQL.format(ids=ids, primary=primary, raw=m.name),
        )
    return staged


def _opportunities(con: duckdb.DuckDBPyConnection, exp: HubSpotExport, path: Path) -> Staged:
    con.execute(OWNER_KEY_MACRO)
    m = exp.raw(con, path, "hs_raw_deals")
    company, primary, ids = _company_of(m)
    stage = m.col(*DEAL["stage"])
    won, closed = m.col(*DEAL["is_won"]), m.col(*DEAL["is_closed"])
    params: dict[str, Any] = {"hs_won": list(WON_STAGES), "hs_lost": list(LOST_STAGES)}
    exprs = {
        "opportunity_id": m.col(*RECORD_ID),
        "account_id": company,
        "name": m.col(*DEAL["name"]),
        "stage": stage,
        "status": (
            f"case when kam_bool({won}) then 'won' when kam_bool({closed}) then 'lost' "
            f"when kam_bool({closed}) = false then 'open' "
            f"when list_contains($hs_won, lower(trim({stage}))) then 'won' "
            f"when list_contains($hs_lost, lower(trim({stage}))) then 'lost' else 'open' end"
        ),
        "amount": m.col(*DEAL["amount"]),
        "probability": m.col(*DEAL["probability"]),
        "created_date": m.col(*DEAL["created"]),
        "close_date": m.col(*DEAL["close_date"]),
    }
    reasons: list[str | BlankReason] = [BlankReason(
        f"case when {company} is null then 'the deal is associated with no company "
        f"(Associated Company IDs is blank)' end", ("account_id",))]
    mapped = _mapped(m, RECORD_ID, *DEAL.values(), PRIMARY_COMPANY, COMPANY_IDS)
    staged = _finish(con, exp, "opportunities", m, exprs, reasons, params, mapped)
    if m.has(*COMPANY_IDS):
        add_warnings(
            con,
            m.display,
            "opportunities",
            "account_id",
            MULTI_COMPANY_WARNINGS_SQL.format(ids=ids, primary=primary, raw=m.name),
        )
    return staged
