"""Salesforce Data Export ("Setup > Data Export" zip or its unpacked folder).

One ``<Object>.csv`` per object, headers are API field names, every field quoted, UTF-8 or
Windows-1252, booleans ``0``/``1``, datetimes ``YYYY-MM-DD HH:MM:SS``, the empty-lookup
sentinel ``000000000000000AAA``, 15- and 18-character ids for the same record, localised
stage names and amounts in the record's ``CurrencyIsoCode`` (facts: shared/formats/salesforce.md).

Objects used: User -> team, Account -> accounts, Contact -> contacts (buying_role from
OpportunityContactRole, reports_to from ReportsToId), Task + Event -> activities and derived relationships, Opportunity ->
opportunities (converted with CurrencyType rates). Every other object is listed as ignored.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from kam_core.errors import FatalFileError
from kam_core.ingest.importers.common import (
    BlankReason,
    RawTable,
    add_warnings,
    build_derived_stg,
    build_stg,
    display_of,
    drop,
    peek_csv_header,
    stage_raw,
    temp_exists,
    value_map,
)
from kam_core.ingest.importers.mapping import TableMapping, apply_overrides
from kam_core.ingest.readers import Staged, open_text, sniff_file
from kam_core.ingest.schema import BUYING_ROLES
from kam_core.ingest.sources import SourceFile

if TYPE_CHECKING:
    from kam_core.settings import Settings

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
SENTINELS = ("000000000000000AAA", "000000000000000")


def _chunk_sql(k: int) -> str:
    bits = " + ".join(
        f"(case when substr(t, {5 * k + i + 1}, 1) between 'A' and 'Z' then {1 << i} else 0 end)"
        for i in range(5)
    )
    return f"substr('{ALPHABET}', 1 + {bits}, 1)"


# 15 -> 18 character ids: per 5-character chunk, bit i is set when character i is A-Z;
# the chunk's value 0-31 picks a character of ALPHABET (three chunks, three characters).
SF_MACROS = f"""
create or replace temp macro kam_sf18(t) as t || {" || ".join(_chunk_sql(k) for k in range(3))};
create or replace temp macro kam_sfid(v) as case
    when v is null or trim(v) = '' or upper(trim(v)) = 'NULL'
         or trim(v) in ('{SENTINELS[0]}', '{SENTINELS[1]}') then null
    when regexp_full_match(trim(v), '[0-9A-Za-z]{{15}}') then kam_sf18(trim(v))
    else trim(v) end;
"""


def sf18(sfid: str) -> str:
    """The 18-character, case-insensitive form of a Salesforce id (as the SQL macro does).

    >>> sf18("0128a000000NQFW")
    '0128a000000NQFWAA4'
    >>> sf18("0018a00001xYzAbAAK")
    '0018a00001xYzAbAAK'
    """
    if len(sfid) != 15:
        return sfid
    suffix = ""
    for k in range(3):
        chunk = sfid[5 * k : 5 * k + 5]
        suffix += ALPHABET[sum(1 << i for i, ch in enumerate(chunk) if "A" <= ch <= "Z")]
    return sfid + suffix


# OpportunityContactRole.Role (Salesforce's standard picklist) -> buying_role; "" = deliberately none.
ROLE_MAP: dict[str, str] = {
    "economic buyer": "economic_buyer",
    "economic decision maker": "economic_buyer",
    "decision maker": "decision_maker",
    "executive sponsor": "decision_maker",
    "technical buyer": "technical_buyer",
    "evaluator": "technical_buyer",
    "business user": "user",
    "user": "user",
    "end user": "user",
    "influencer": "influencer",
    "gatekeeper": "gatekeeper",
    "coach": "coach",
    "other": "",
    **{r: r for r in BUYING_ROLES},
}

USED = {
    "User": "team",
    "Account": "accounts",
    "Contact": "contacts",
    "Opportunity": "opportunities",
    "Task": "activities",
    "Event": "activities",
}
LOOKUPS = {"OpportunityContactRole": "contacts' buying_role", "CurrencyType": "currency conversion"}
_OBJECT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_SF_MARKERS = {"IsDeleted", "OwnerId", "CreatedDate", "CreatedById", "SystemModstamp", "LastModifiedDate"}

# ---------------------------------------------------------------- lookups (built once per load)

OCR_ROLES_SQL = """
create or replace temp table sf_ocr_role as
with roles as (
    select
        kam_sfid({contact}) as contact_id,
        trim(kam_clean({role})) as role_text
    from {raw} m
    where coalesce(trim({deleted}), '0') <> '1'
),
mapped as (
    select
        contact_id,
        role_text,
        $role_dst[list_position($role_src, lower(role_text))] as buying_role
    from roles
    where contact_id is not null and role_text is not null
)
select
    contact_id,
    arg_min(buying_role, list_position($role_order, buying_role))
        filter (where buying_role <> '') as buying_role,
    string_agg(distinct role_text, ', ' order by role_text)
        filter (where buying_role is null) as unknown_roles
from mapped
group by contact_id
"""

ACCOUNT_OF_SQL = """
create or replace temp table {name} as
select kam_sfid({id}) as id, any_value(kam_sfid({account})) as account_id
from {raw} m
where kam_sfid({id}) is not null
group by 1
"""

RELATIONSHIP_ACTIVITIES_SQL = """
select
    kam_sfid({owner}) as member_id,
    kam_sfid({who}) as contact_id,
    kam_date(coalesce(kam_clean({date1}), kam_clean({date2}), kam_clean({date3}))) as activity_date
from {raw} m
where coalesce(trim({deleted}), '0') <> '1' and coalesce(trim({closed}), '1') = '1'
"""

DERIVED_RELATIONSHIPS_SQL = """
with activities as (
    {activities}
),
pairs as (
    select
        member_id,
        contact_id,
        count(*) as count_activities,
        max(activity_date) as last_contact_date
    from activities
    where member_id like '005%' and contact_id like '003%'
      and activity_date is not null and activity_date <= current_date
    group by all
)
select
    (row_number() over (order by member_id, contact_id) + 1)::bigint as _row,
    'derived from ' || count_activities || ' completed activities of ' || member_id || ' with '
        || contact_id || ' (Task.csv, Event.csv)' as _raw,
    member_id as c0,
    contact_id as c1,
    case when count_activities >= 5 then '3' when count_activities >= 2 then '2' else '1' end as c2,
    cast(last_contact_date as varchar) as c3
from pairs
"""

UNKNOWN_ROLE_WARNINGS_SQL = """
select
    s._row,
    r.unknown_roles as value,
    'OpportunityContactRole.Role ' || kam_show(r.unknown_roles) || ' names no buying role; buying_role '
        || 'left blank (map it in a mapping file under [tables.contacts.values.buying_role])' as message
from stg s join sf_ocr_role r on r.contact_id = s.c0
where r.unknown_roles is not null
"""


def is_object_file(path: Path, header: list[str]) -> bool:
    """An export file of one Salesforce object: API-name file name, an ``Id`` column, API headers."""
    if path.suffix.lower() != ".csv" or not _OBJECT_NAME.match(path.stem):
        return False
    names = {h.strip() for h in header}
    return "Id" in names and not any(h.islower() and "_id" in h for h in names)


@dataclass
class Rates:
    """CurrencyType.csv: conversion rates against the corporate currency."""

    rates: dict[str, float] = field(default_factory=dict)  # ISO code -> units per corporate unit
    corporate: str | None = None
    problem: str | None = None  # why the file could not be read


def read_rates(path: Path) -> Rates:
    """The rates of an export's ``CurrencyType.csv`` (a small file, read here at detection).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "CurrencyType.csv"
    >>> _ = p.write_text('"IsoCode","ConversionRate","IsCorporate"\\n"USD","1","1"\\n"MXN","18.2","0"\\n')
    >>> read_rates(p)
    Rates(rates={'USD': 1.0, 'MXN': 18.2}, corporate='USD', problem=None)
    """
    out = Rates()
    try:
        facts = sniff_file(path)
        with open_text(path, facts.encoding) as fh:
            rows = list(csv.DictReader(line.replace("\x00", "") for line in fh))
    except (FatalFileError, OSError, UnicodeDecodeError, csv.Error) as exc:
        out.problem = str(exc)
        return out
    for row in rows:
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        iso = row.get("IsoCode", "").upper()
        try:
            rate = float(row.get("ConversionRate", ""))
        except ValueError:
            continue
        if iso and rate > 0:
            out.rates.setdefault(iso, rate)
            if row.get("IsCorporate") == "1" and out.corporate is None:
                out.corporate = iso
    return out


@dataclass
class SalesforceExport:
    """The recognised objects of one export and what the stagers need to map them."""

    objects: dict[str, Path]
    base: Path
    displays: dict[Path, str] | None
    settings: Settings
    overrides: dict[str, TableMapping] = field(default_factory=dict)
    staged: dict[str, RawTable] = field(default_factory=dict)
    rates: Rates = field(default_factory=Rates)
    currency: str = "EUR"  # the currency amounts are converted to

    def display(self, obj: str) -> str:
        return display_of(self.objects[obj], self.base, self.displays)

    def raw(self, con: duckdb.DuckDBPyConnection, obj: str) -> RawTable:
        """The object's file as temp table ``sf_raw_<object>``, staged once per load.

        A file read for a lookup (Opportunity for the activities' accounts, Task and Event for
        the relationships) stays staged for the stager that loads it; the loader drops it then.
        """
        name = f"sf_raw_{obj.lower()}"
        cached = self.staged.get(name)
        if cached is not None and temp_exists(con, name):
            return cached
        self.staged[name] = stage_raw(con, self.objects[obj], name, self.display(obj))
        return self.staged[name]


def detect(
    files: list[Path],
    base: Path,
    displays: dict[Path, str] | None,
    settings: Settings,
    overrides: dict[str, TableMapping],
    relationships_given: bool,
) -> tuple[list[SourceFile], set[Path], list[str], list[str], str] | None:
    """Recognise a Salesforce export among ``files``; None when it is not one.

    Returns the files, the paths consumed, messages, ignored entries and the currency the
    amounts are converted to.
    """

    objects: dict[str, Path] = {}
    headers: dict[str, list[str]] = {}
    for p in files:
        if p.suffix.lower() != ".csv":
            continue
        header = peek_csv_header(p)
        if is_object_file(p, header):
            name = next((o for o in [*USED, *LOOKUPS] if o.casefold() == p.stem.casefold()), p.stem)
            objects.setdefault(name, p)
            headers[name] = header
    main = [
        o
        for o in ("Account", "Contact", "Opportunity")
        if o in objects and _SF_MARKERS & {h.strip() for h in headers[o]}
    ]
    if not main:
        return None
    exp = SalesforceExport(objects, base, displays, settings, overrides)
    if "CurrencyType" in objects:
        exp.rates = read_rates(objects["CurrencyType"])
    found: list[SourceFile] = []

    def add(obj: str, table: str, stager) -> None:
        found.append(SourceFile(objects[obj], exp.display(obj), table, "csv", stager=stager))

    if "User" in objects:
        add("User", "team", lambda con: _team(con, exp))
    if "Account" in objects:
        add("Account", "accounts", lambda con: _accounts(con, exp))
    if "Contact" in objects:
        add("Contact", "contacts", lambda con: _contacts(con, exp))
    activity_objects = [o for o in ("Task", "Event") if o in objects]
    messages = []
    if activity_objects and "Contact" in objects and not relationships_given:
        display = " + ".join(exp.display(o) for o in activity_objects) + " (derived)"
        found.append(
            SourceFile(
                objects[activity_objects[0]],
                display,
                "relationships",
                "derived",
                stager=lambda con: _relationships(con, exp, activity_objects),
            )
        )
        messages.append(
            "relationships derived from completed Tasks and Events (owner -> contact): strength 1 "
            "for one activity, 2 for 2-4, 3 for 5 or more; last_contact_date = the latest one"
        )
    if activity_objects and relationships_given:
        messages.append("relationships.csv given: relationships are not derived from Task/Event")
    for obj in activity_objects:
        add(obj, "activities", lambda con, obj=obj: _activities(con, exp, obj))
    if "Opportunity" in objects:
        add("Opportunity", "opportunities", lambda con: _opportunities(con, exp))
    used = [o for o in [*USED, *LOOKUPS] if o in objects]
    ignored_objects = sorted(o for o in objects if o not in used)
    ignored = [f"{exp.display(o)} (Salesforce object not used by the KAM model)" for o in ignored_objects]
    consumed = set(objects.values())
    # attachments and documents of the export (sub-folders named by record id)
    folders: dict[str, int] = {}
    for p in files:
        disp = display_of(p, base, displays)
        if "/" in disp and p.suffix.lower() != ".csv" and p not in consumed:
            folders[disp.split("/")[0]] = folders.get(disp.split("/")[0], 0) + 1
            consumed.add(p)
    ignored += [
        f"{f}/ ({n} files: attachments and documents, not used by the KAM model)"
        for f, n in sorted(folders.items())
    ]
    messages.insert(
        0,
        f"Salesforce Data Export detected: {len(used)} objects used ({', '.join(used)}), "
        f"{len(ignored_objects)} ignored",
    )
    _choose_currency(exp, headers, messages)
    if "OpportunityContactRole" not in objects and "Contact" in objects:
        messages.append("no OpportunityContactRole.csv: contacts get no buying_role")
    return found, consumed, messages, ignored, exp.currency


def _choose_currency(exp: SalesforceExport, headers: dict[str, list[str]], messages: list[str]) -> None:
    """The currency amounts are converted to, and what the load says about it.

    The setting ``currency`` when kam.toml sets it; else the export's corporate currency
    (``CurrencyType.IsCorporate``) when it has one; else the setting's default.
    """
    settings, rates = exp.settings, exp.rates
    with_iso = [o for o in ("Opportunity", "Account")
                if o in exp.objects and "CurrencyIsoCode" in {h.strip() for h in headers[o]}]
    exp.currency = settings.currency.upper()
    if rates.problem:
        messages.append(f"{exp.display('CurrencyType')} cannot be read ({rates.problem}): no conversion rates")
    if not settings.is_set("currency") and rates.corporate and rates.corporate != exp.currency:
        exp.currency = rates.corporate
        messages.append(
            f"amounts in {exp.currency}, the corporate currency of {exp.display('CurrencyType')} (the setting "
            f"currency is not set in kam.toml; set it to convert the amounts to another currency)")
    for obj in ("Opportunity", "Account"):
        if obj in exp.objects and obj not in with_iso:
            messages.append(
                f"{exp.display(obj)} has no CurrencyIsoCode column: amounts are taken as {exp.currency}")
    if with_iso:
        if rates.rates:
            messages.append(
                f"amounts converted to {exp.currency} with the rates of {exp.display('CurrencyType')}")
        else:
            messages.append(f"no CurrencyType.csv: only amounts already in {exp.currency} can be loaded")


# ---------------------------------------------------------------- shared expressions


def _deleted(m) -> str:
    return f"case when trim({m.col('IsDeleted')}) = '1' then 'deleted in Salesforce (IsDeleted = 1)' end"


def _custom_fields(raw, used: set[str]) -> list[str]:
    return [h for h in raw.headers if h.strip().endswith("__c") and h not in used]


def _finish(
    con: duckdb.DuckDBPyConnection,
    exp: SalesforceExport,
    table: str,
    raw,
    exprs: dict[str, str],
    from_sql: str,
    reasons: list[str | BlankReason],
    params: dict[str, Any],
) -> Staged:
    used = apply_overrides(table, exprs, raw, exp.overrides.get(table), params)
    return build_stg(
        con, raw, exprs, from_sql, reasons, params, _custom_fields(raw, used), decimal_comma=False
    )


def _rates(con: duckdb.DuckDBPyConnection, exp: SalesforceExport) -> None:
    if temp_exists(con, "sf_rates"):
        return
    con.execute("create or replace temp table sf_rates (iso varchar, rate double)")
    if exp.rates.rates:
        con.executemany("insert into sf_rates values ($1, $2)", list(exp.rates.rates.items()))


OTHER_CURRENCIES_SQL = """
select count(*) filter (where {num} is not null and {cur} is not null and {cur} <> $currency), count(*)
from {raw} m
"""


def _money(m, amount: str, params: dict[str, Any], exp: SalesforceExport, con: duckdb.DuckDBPyConnection
           ) -> tuple[str, str, str]:
    """(converted amount SQL, reject reason SQL, joins) for an amount in the record's currency.

    When the target currency has no rate but records in other currencies have amounts, the
    file is fatal with one message naming the setting and the currencies that have rates.
    """
    params["currency"] = exp.currency
    a = m.col(amount)
    if not m.has("CurrencyIsoCode"):
        return a, "null::varchar", ""
    cur = f"upper(trim(kam_clean({m.col('CurrencyIsoCode')})))"
    num = f"kam_num({a}, false)"
    rates = exp.rates
    if rates.rates and exp.currency not in rates.rates:
        other, total = con.execute(OTHER_CURRENCIES_SQL.format(num=num, cur=cur, raw=m.name),
                                   {"currency": exp.currency}).fetchone()
        if other:
            corporate = f"; corporate currency {rates.corporate}" if rates.corporate else ""
            raise FatalFileError(
                f"{m.display}: the setting currency = {exp.currency!r} has no conversion rate in "
                f"{exp.display('CurrencyType')}, and {other:,} of {total:,} rows have an {amount} in another "
                f"currency. {exp.display('CurrencyType')} has rates for {', '.join(sorted(rates.rates))}"
                f"{corporate}: set currency in kam.toml to one of them")
    other = f"{num} is not null and {cur} is not null and {cur} <> $currency"
    expr = (
        f"case when {other} and rf.rate is not null and rt.rate is not null "
        f"then cast(round({num} / rf.rate * rt.rate, 6) as varchar) else {a} end"
    )
    reason = (
        f"case when {other} and rf.rate is null then 'CurrencyIsoCode ' || kam_show({cur}) "
        f"|| ' has no conversion rate in CurrencyType.csv' "
        f"when {other} and rt.rate is null then 'CurrencyIsoCode ' || kam_show({cur}) || ' cannot be "
        f"converted to ' || $currency || ': CurrencyType.csv has no rate for ' || $currency end"
    )
    joins = (
        f"left join sf_rates rf on rf.iso = {cur} "
        f"left join (select rate from sf_rates where iso = $currency) rt on true"
    )
    return expr, reason, joins


def _name(m) -> str:
    first_last = (
        f"nullif(trim(concat_ws(' ', kam_clean({m.col('FirstName')}), kam_clean({m.col('LastName')}))), '')"
    )
    return f"coalesce({first_last}, kam_clean({m.col('Name')}))"


# ---------------------------------------------------------------- the objects


def _team(con: duckdb.DuckDBPyConnection, exp: SalesforceExport) -> Staged:
    con.execute(SF_MACROS)
    m = exp.raw(con, "User")
    exprs = {
        "member_id": f"kam_sfid({m.col('Id')})",
        "name": f"coalesce({_name(m)}, kam_clean({m.col('Username')}))",
        "role": m.col("Title"),
        "department": m.col("Department"),
        "location": m.col("City"),
        "is_active": m.col("IsActive"),
    }
    params: dict[str, Any] = {}
    staged = _finish(con, exp, "team", m, exprs, f"from {m.name} m", [_deleted(m)], params)
    return staged


def _accounts(con: duckdb.DuckDBPyConnection, exp: SalesforceExport) -> Staged:
    con.execute(SF_MACROS)
    _rates(con, exp)
    m = exp.raw(con, "Account")
    params: dict[str, Any] = {}
    revenue, revenue_reason, joins = _money(m, "AnnualRevenue", params, exp, con)
    exprs = {
        "account_id": f"kam_sfid({m.col('Id')})",
        "name": m.col("Name"),
        "industry": m.col("Industry"),
        "region": f"coalesce(kam_clean({m.col('BillingState')}), {m.col('BillingStateCode')})",
        "country": f"coalesce(kam_clean({m.col('BillingCountry')}), {m.col('BillingCountryCode')})",
        "parent_account_id": f"kam_sfid({m.col('ParentId')})",
        "account_manager_id": f"kam_sfid({m.col('OwnerId')})",
        "annual_revenue": revenue,
    }
    staged = _finish(
        con, exp, "accounts", m, exprs, f"from {m.name} m {joins}", [_deleted(m), revenue_reason], params
    )
    return staged


def _ocr_roles(con: duckdb.DuckDBPyConnection, exp: SalesforceExport, notes: list[str]) -> bool:
    if temp_exists(con, "sf_ocr_role"):
        return True
    if "OpportunityContactRole" not in exp.objects:
        return False
    try:
        raw = exp.raw(con, "OpportunityContactRole")
    except FatalFileError as exc:  # a lookup: the contacts still load, without roles
        notes.append(f"no buying roles: {exc}")
        return False
    role_map = value_map(ROLE_MAP, exp.overrides, "contacts", "buying_role")
    con.execute(
        OCR_ROLES_SQL.format(
            contact=raw.col("ContactId"), role=raw.col("Role"), deleted=raw.col("IsDeleted"), raw=raw.name
        ),
        {"role_src": list(role_map), "role_dst": list(role_map.values()), "role_order": list(BUYING_ROLES)},
    )
    drop(con, raw.name)
    return True


def _account_of(con: duckdb.DuckDBPyConnection, exp: SalesforceExport, obj: str, keep: bool,
                notes: list[str] | None = None) -> str | None:
    """Lookup table ``sf_<object>_account`` (id -> account_id) from Contact or Opportunity.

    Built once per load; ``keep`` leaves the object's raw file staged for its own stager.
    """
    name = f"sf_{obj.lower()}_account"
    if temp_exists(con, name):
        return name
    if obj not in exp.objects:
        return None
    try:
        raw = exp.raw(con, obj)
    except FatalFileError as exc:  # a lookup: the activities still load, without this way to an account
        if notes is not None:
            notes.append(f"activities are not linked to accounts through their {obj.lower()}: {exc}")
        return None
    if raw.has("Id") and raw.has("AccountId"):
        con.execute(
            ACCOUNT_OF_SQL.format(name=name, id=raw.col("Id"), account=raw.col("AccountId"), raw=raw.name)
        )
    if not keep:
        drop(con, raw.name)
    return name if temp_exists(con, name) else None


def _contacts(con: duckdb.DuckDBPyConnection, exp: SalesforceExport) -> Staged:
    con.execute(SF_MACROS)
    notes: list[str] = []
    has_roles = _ocr_roles(con, exp, notes)
    m = exp.raw(con, "Contact")
    exprs = {
        "contact_id": f"kam_sfid({m.col('Id')})",
        "account_id": f"kam_sfid({m.col('AccountId')})",
        "name": _name(m),
        "title": m.col("Title"),
        "department": m.col("Department"),
        "location": f"coalesce(kam_clean({m.col('MailingCity')}), {m.col('MailingCountry')})",
        "buying_role": "r.buying_role" if has_roles else "null::varchar",
        # the manager's Contact Id, keyed as contact_id is (18 characters): the org chart. One
        # that is not loaded stays, with the loader's warning (docs/workbench.md: the export's chart)
        "reports_to": f"kam_sfid({m.col('ReportsToId')})",
    }
    joins = f"left join sf_ocr_role r on r.contact_id = kam_sfid({m.col('Id')})" if has_roles else ""
    reasons: list[str | BlankReason] = [
        _deleted(m),
        BlankReason(f"case when kam_sfid({m.col('AccountId')}) is null then 'the contact has no AccountId "
                    f"(a private contact in Salesforce): it belongs to no account' end", ("account_id",)),
    ]
    params: dict[str, Any] = {}
    staged = _finish(con, exp, "contacts", m, exprs, f"from {m.name} m {joins}", reasons, params)
    if has_roles:
        add_warnings(con, m.display, "contacts", "buying_role", UNKNOWN_ROLE_WARNINGS_SQL)
    _account_of(con, exp, "Contact", keep=True)  # for the activities, while Contact.csv is staged
    staged.notes += notes
    return staged


def _opportunities(con: duckdb.DuckDBPyConnection, exp: SalesforceExport) -> Staged:
    con.execute(SF_MACROS)
    _rates(con, exp)
    m = exp.raw(con, "Opportunity")
    params: dict[str, Any] = {}
    amount, amount_reason, joins = _money(m, "Amount", params, exp, con)
    closed, won, stage = (f"trim({m.col('IsClosed')})", f"trim({m.col('IsWon')})", m.col("StageName"))
    probability = m.col("Probability")
    exprs = {
        "opportunity_id": f"kam_sfid({m.col('Id')})",
        "account_id": f"kam_sfid({m.col('AccountId')})",
        "name": m.col("Name"),
        "stage": stage,
        # stage names are localised and custom: the IsClosed/IsWon flags decide the status
        "status": (
            f"case when {closed} = '1' and {won} = '1' then 'won' when {closed} = '1' then 'lost' "
            f"when {closed} = '0' then 'open' "
            f"when lower(trim({stage})) = 'closed won' then 'won' "
            f"when lower(trim({stage})) = 'closed lost' then 'lost' else 'open' end"
        ),
        "amount": amount,
        # Probability is a percentage 0-100: divided here, so that 1 means 1 %
        "probability": (
            f"case when kam_num({probability}, false) is null then {probability} "
            f"else cast(kam_num({probability}, false) / 100 as varchar) end"
        ),
        "created_date": m.col("CreatedDate"),
        "close_date": m.col("CloseDate"),
    }
    reasons = [_deleted(m), amount_reason]
    staged = _finish(con, exp, "opportunities", m, exprs, f"from {m.name} m {joins}", reasons, params)
    return staged


def _activities(con: duckdb.DuckDBPyConnection, exp: SalesforceExport, obj: str) -> Staged:
    con.execute(SF_MACROS)
    notes: list[str] = []
    opportunity_lookup = _account_of(con, exp, "Opportunity", keep=True, notes=notes)  # loaded after
    contact_lookup = _account_of(con, exp, "Contact", keep=False, notes=notes)
    m = exp.raw(con, obj)
    what, who = f"kam_sfid({m.col('WhatId')})", f"kam_sfid({m.col('WhoId')})"
    account = [f"kam_sfid({m.col('AccountId')})", f"case when {what} like '001%' then {what} end"]
    joins = []
    if opportunity_lookup:
        account.append("o.account_id")
        joins.append(f"left join {opportunity_lookup} o on o.id = {what}")
    if contact_lookup:
        account.append("c.account_id")
        joins.append(f"left join {contact_lookup} c on c.id = {who}")
    account_sql = f"coalesce({', '.join(account)})"
    subtype = "TaskSubtype" if obj == "Task" else "EventSubtype"
    date_cols = ["ActivityDate", "ActivityDateTime", "CompletedDateTime", "CreatedDate"]
    exprs = {
        "activity_id": f"kam_sfid({m.col('Id')})",
        "date": f"coalesce({', '.join(f'kam_clean({m.col(c)})' for c in date_cols)})",
        "account_id": account_sql,
        "contact_id": f"case when {who} like '003%' then {who} end",
        "member_id": f"kam_sfid({m.col('OwnerId')})",
        "type": f"coalesce(kam_clean({m.col('Type')}), kam_clean({m.col(subtype)}), '{obj}')",
    }
    reasons: list[str | BlankReason] = [
        _deleted(m),
        BlankReason(f"case when {account_sql} is null then 'no account for this {obj.lower()}: AccountId is "
                    f"blank and neither WhatId nor WhoId leads to an account' end", ("account_id",)),
    ]
    params: dict[str, Any] = {}
    staged = _finish(con, exp, "activities", m, exprs, f"from {m.name} m {' '.join(joins)}", reasons, params)
    staged.notes += notes
    return staged


def _relationships(con: duckdb.DuckDBPyConnection, exp: SalesforceExport, objects: list[str]) -> Staged:
    con.execute(SF_MACROS)
    parts = []
    problems = []
    for obj in objects:
        try:
            raw = exp.raw(con, obj)  # stays staged for the activities
        except FatalFileError as exc:
            problems.append(str(exc))
            continue
        date1, date2 = (
            ("ActivityDate", "CompletedDateTime") if obj == "Task" else ("ActivityDate", "ActivityDateTime")
        )
        parts.append(
            RELATIONSHIP_ACTIVITIES_SQL.format(
                owner=raw.col("OwnerId"),
                who=raw.col("WhoId"),
                date1=raw.col(date1),
                date2=raw.col(date2),
                date3=raw.col("CreatedDate"),
                deleted=raw.col("IsDeleted"),
                closed=raw.col("IsClosed") if obj == "Task" else "null::varchar",
                raw=raw.name,
            )
        )
    if not parts:
        raise FatalFileError("relationships cannot be derived: " + "; ".join(problems))
    staged = build_derived_stg(
        con,
        DERIVED_RELATIONSHIPS_SQL.format(activities=" union all ".join(parts)),
        ["member_id", "contact_id", "strength", "last_contact_date"],
    )
    staged.notes += [f"derived without it: {problem}" for problem in problems]
    return staged
