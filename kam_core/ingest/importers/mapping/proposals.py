"""Proposing a mapping from header names and sample values."""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import io
import re
from pathlib import Path

from kam_core.ingest.importers.common import TABULAR_SUFFIXES, XLSX_SUFFIXES
from kam_core.ingest.importers.mapping.model import Mapping, TableMapping
from kam_core.ingest.schema import ENUM_ALIASES, LOAD_ORDER, TABLES, Column

# ---------------------------------------------------------------- proposing a mapping

# Header spellings per canonical column (compared without case, spaces, '_' and '-').
SYNONYMS: dict[str, dict[str, list[str]]] = {
    "accounts": {
        "account_id": [
            "customer_id",
            "customerid",
            "customer_no",
            "customer_number",
            "client_id",
            "company_id",
            "kundennummer",
            "kunden_nr",
            "kundennr",
            "kunde_id",
            "debitor",
            "debitorennummer",
            "account_number",
            "account",
        ],
        "name": [
            "company_name",
            "companyname",
            "account_name",
            "customer_name",
            "company",
            "firma",
            "firmenname",
            "kunde",
            "kundenname",
            "name",
        ],
        "industry": ["branche", "sector", "segment", "industry"],
        "region": ["region", "state", "bundesland", "territory", "gebiet"],
        "country": ["country", "land", "country_code", "nation"],
        "parent_account_id": ["parent_id", "parent", "parent_company", "parent_account", "konzern"],
        "account_manager_id": [
            "owner",
            "owner_id",
            "account_owner",
            "account_manager",
            "kam",
            "key_account_manager",
            "sales_rep",
            "betreuer",
            "employee_id",
        ],
        "mentor_id": ["mentor", "sponsor", "mentor_id"],
        "phase": ["phase", "lifecycle_stage", "lifecycle"],
        "annual_revenue": ["annual_revenue", "revenue", "umsatz", "jahresumsatz", "turnover"],
        "key_account_since": ["key_account_since", "ka_since", "customer_since"],
    },
    "team": {
        "member_id": [
            "employee_id",
            "employeeid",
            "user_id",
            "userid",
            "staff_id",
            "sales_agent",
            "sales_rep",
            "agent",
            "salesperson",
            "member",
            "personalnummer",
            "mitarbeiter_id",
            "id",
        ],
        "name": ["full_name", "employee_name", "user_name", "mitarbeiter", "name"],
        "role": ["title", "job_title", "position", "role", "funktion"],
        "department": ["department", "abteilung", "dept", "team"],
        "location": ["city", "office", "location", "standort", "ort"],
        "is_active": ["active", "is_active", "aktiv", "enabled"],
    },
    "contacts": {
        "contact_id": ["contact_id", "contactid", "person_id", "ansprechpartner_id", "id"],
        "account_id": ["account_id", "customer_id", "customerid", "company_id", "kundennummer", "kunden_nr"],
        "name": ["contact_name", "contactname", "full_name", "ansprechpartner", "name"],
        "title": ["title", "job_title", "contact_title", "contacttitle", "position", "funktion"],
        "department": ["department", "abteilung"],
        "level": ["level", "ebene", "hierarchy"],
        "location": ["city", "location", "ort", "standort"],
        "buying_role": ["buying_role", "role", "rolle"],
        "piece": ["piece", "chess_piece", "figur"],
        "attitude": ["attitude", "haltung", "einstellung"],
        "is_active": ["active", "is_active", "aktiv"],
    },
    "relationships": {
        "member_id": ["member_id", "employee_id", "user_id", "owner"],
        "contact_id": ["contact_id", "contact"],
        "strength": ["strength", "staerke", "relationship_strength"],
        "last_contact_date": ["last_contact", "last_contact_date", "letzter_kontakt"],
    },
    "activities": {
        "activity_id": ["activity_id", "id", "activityid"],
        "date": ["date", "activity_date", "datum", "start", "due_date", "order_date"],
        "account_id": ["account_id", "customer_id", "customerid", "company_id"],
        "contact_id": ["contact_id", "who_id"],
        "member_id": ["member_id", "owner", "owner_id", "user_id", "employee_id", "assigned_to"],
        "type": ["type", "activity_type", "art"],
    },
    "revenue": {
        "account_id": ["account_id", "customer_id", "customerid", "company_id", "kundennummer"],
        "period": ["period", "month", "monat", "invoice_date", "order_date", "date", "datum"],
        "product_line": [
            "product_line",
            "product",
            "category",
            "product_category",
            "sparte",
            "produktlinie",
            "family",
        ],
        "revenue": ["revenue", "net_revenue", "sales", "umsatz", "net_amount", "amount", "betrag"],
        "gross_margin": ["gross_margin", "margin", "profit", "deckungsbeitrag", "rohertrag"],
    },
    "opportunities": {
        "opportunity_id": ["opportunity_id", "deal_id", "opp_id", "id"],
        "account_id": ["account_id", "customer_id", "customerid", "company_id"],
        "name": ["deal_name", "opportunity_name", "topic", "name"],
        "product_line": ["product_line", "product", "category"],
        "stage": ["stage", "deal_stage", "stage_name", "phase"],
        "status": ["status", "state", "outcome"],
        "amount": ["amount", "value", "deal_value", "est_revenue", "betrag", "volumen"],
        "probability": ["probability", "wahrscheinlichkeit", "win_probability"],
        "created_date": ["created", "created_date", "create_date", "created_on", "erstellt"],
        "close_date": ["close_date", "closedate", "expected_close", "abschlussdatum"],
    },
    "potential": {
        "account_id": ["account_id", "customer_id"],
        "product_line": ["product_line", "product", "category"],
        "annual_potential": ["annual_potential", "potential", "potenzial"],
    },
    "criteria": {
        "criterion_id": ["criterion_id", "id"],
        "name": ["name", "criterion"],
        "axis": ["axis", "achse"],
        "weight": ["weight", "gewicht"],
        "source": ["source", "metric"],
    },
    "criterion_scores": {
        "account_id": ["account_id", "customer_id"],
        "criterion_id": ["criterion_id", "criterion"],
        "score": ["score", "punkte", "bewertung"],
    },
    "plan_actions": {
        "action_id": ["action_id", "id"],
        "account_id": ["account_id", "customer_id"],
        "objective": ["objective", "action", "ziel", "massnahme"],
        "owner_id": ["owner_id", "owner", "verantwortlich"],
        "due_date": ["due_date", "due", "faellig"],
        "status": ["status"],
    },
    "reviews": {
        "account_id": ["account_id", "customer_id"],
        "review_date": ["review_date", "date", "datum"],
        "mentor_id": ["mentor_id", "mentor"],
        "rating": ["rating", "bewertung"],
        "notes": ["notes", "notizen"],
    },
    "competitors": {
        "account_id": ["account_id", "customer_id"],
        "competitor": ["competitor", "wettbewerber"],
        "product_line": ["product_line", "product"],
        "est_share": ["est_share", "share", "anteil"],
    },
}

FILE_HINTS: dict[str, list[str]] = {
    "accounts": [
        "account",
        "accounts",
        "customer",
        "customers",
        "client",
        "clients",
        "companies",
        "company",
        "kunden",
        "kunde",
        "firmen",
    ],
    "team": ["team", "teams", "sales_team", "sales_teams", "employees", "employee", "users", "user", "staff",
             "members", "mitarbeiter", "owners"],
    "contacts": ["contacts", "contact", "people", "persons", "ansprechpartner", "kontakte"],
    "relationships": ["relationships", "relations", "beziehungen"],
    "activities": ["activities", "activity", "tasks", "events", "meetings", "calls", "besuche"],
    "revenue": ["revenue", "sales", "invoices", "umsatz", "umsaetze", "billing"],
    "opportunities": ["opportunities", "opportunity", "deals", "pipeline", "chancen"],
    "potential": ["potential", "potentials", "potenzial"],
    "criteria": ["criteria", "criterion", "kriterien"],
    "criterion_scores": ["criterion_scores", "scores", "bewertungen"],
    "plan_actions": ["plan_actions", "actions", "plan", "massnahmen"],
    "reviews": ["reviews", "review"],
    "competitors": ["competitors", "competitor", "wettbewerber"],
}

FIRST_NAMES = ("firstname", "first_name", "vorname", "givenname")
LAST_NAMES = ("lastname", "last_name", "nachname", "surname", "familyname")


def _snake(header: str) -> str:
    """``customerID`` -> ``customer_id``; other characters as ``_``."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", header.strip())
    return re.sub(r"[^0-9a-z]+", "_", text.casefold()).strip("_")


def _compact(text: str) -> str:
    return text.replace("_", "")


def named_like(path: Path, table: str) -> bool:
    """The file's name is one of the table's usual names (``customers.csv`` for accounts)."""
    stem = _snake(path.stem)
    return stem in FILE_HINTS[table] or _compact(stem) in FILE_HINTS[table]


def sample_rows(path: Path, n: int = 200, sheet: str | None = None) -> tuple[list[str], list[list[str]]]:
    """The header and up to ``n`` data rows of a CSV or workbook (text cells; for proposals)."""
    if path.suffix.lower() in XLSX_SUFFIXES:
        import openpyxl

        from kam_core.ingest.readers import _cell_text

        try:
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception:  # noqa: BLE001 - an unreadable workbook proposes nothing
            return [], []
        try:
            ws = wb[sheet] if sheet else wb.worksheets[0]
            rows = [[_cell_text(v) or "" for v in r] for r in ws.iter_rows(values_only=True, max_row=n + 1)]
        finally:
            wb.close()
    else:
        try:
            head = path.read_bytes()[: 1 << 20]
        except OSError:
            return [], []
        try:
            text = head.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = head.decode("cp1252", errors="replace")
        first = text.splitlines()[0] if text else ""
        delim = max((",", ";", "\t", "|"), key=first.count) if first else ","
        rows = []
        try:
            for i, r in enumerate(csv.reader(io.StringIO(text), delimiter=delim)):
                if i > n:
                    break
                rows.append(r)
        except csv.Error:
            pass
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        return [], []
    return rows[0], rows[1:]


def _parses(kind: str, values: list[str], col: Column) -> float:
    """Share of sample values that read as the column's kind (1.0 for text and ids)."""
    vals = [v.strip() for v in values if v.strip() and v.strip().upper() != "NULL"]
    if not vals or kind in ("text", "id"):
        return 1.0
    ok = 0
    for v in vals:
        if kind in ("float", "int"):
            ok += _is_number(v)
        elif kind in ("date", "month"):
            ok += _is_date(v)
        elif kind == "bool":
            ok += v.lower() in (
                "true",
                "false",
                "1",
                "0",
                "yes",
                "no",
                "ja",
                "nein",
                "wahr",
                "falsch",
                "y",
                "n",
            )
        elif kind == "enum":
            norm = re.sub(r"[\s\-]+", "_", v.lower())
            ok += norm in col.enum or norm in ENUM_ALIASES.get(col.name, {})
    return ok / len(vals)


def _is_number(v: str) -> bool:
    try:
        float(v.replace(",", "") if v.count(",") and "." in v else v.replace(",", "."))
        return True
    except ValueError:
        return False


def _is_date(v: str) -> bool:
    for fmt in (
        "%Y-%m-%d",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M:%S.%f",
        "%d.%m.%Y",
        "%m/%d/%Y",
        "%d/%m/%Y",
        "%Y-%m",
        "%Y-%m-%dT%H:%M:%S",
        "%d-%m-%Y %H:%M",
    ):
        try:
            dt.datetime.strptime(v, fmt)
            return True
        except ValueError:
            continue
    return False


def _similarity(a: str, b: str) -> float:
    """difflib's ratio, skipped (0) when even its quick upper bound is below 0.8."""
    matcher = difflib.SequenceMatcher(None, a, b)
    return matcher.ratio() if matcher.real_quick_ratio() >= 0.8 and matcher.quick_ratio() >= 0.8 else 0.0


# Headers that count something (employees, items): never an id, however alike their names.
_COUNT = re.compile(r"(^|_)(number|no|num|nr_of|count|anzahl|qty|quantity|headcount|employees|staff|size)(_|$)"
                    r"|_count$|^employees|mitarbeiterzahl|anzahl")


def looks_like_count(header: str) -> bool:
    """
    >>> [looks_like_count(h) for h in ("employees", "NumberOfEmployees", "employee_count", "employeeID", "Kd-Nr")]
    [True, True, True, False, False]
    """
    snake = _snake(header)
    return bool(_COUNT.search(snake)) and not snake.endswith(("_id", "id")) or "number_of" in snake


def _known_words() -> set[str]:
    """Every canonical column name and synonym, compacted: a header spelled like one of them
    means that column, so it is never a look-alike guess for another ("Stage" is not "state")."""
    words = {_compact(c) for t in TABLES.values() for c in t.column_names}
    words |= {_compact(s) for cols in SYNONYMS.values() for syn in cols.values() for s in syn}
    return words


_KNOWN = _known_words()


def _column_scores(
    table: str, headers: list[str], rows: list[list[str]]
) -> dict[str, tuple[str | list[str], float]]:
    """Best source header per canonical column with its confidence (greedy, one header per column)."""
    t = TABLES[table]
    keys = [_compact(_snake(h)) for h in headers]
    candidates: list[tuple[float, str, int]] = []
    for col in t.columns:
        syn = [_compact(s) for s in SYNONYMS.get(table, {}).get(col.name, [])]
        for i, k in enumerate(keys):
            if not k:
                continue
            if col.kind == "id" and looks_like_count(headers[i]):
                continue  # "employees" is a head count, not an employee id
            if k == _compact(col.name):
                score = 1.0
            elif k in syn:
                score = 0.9 - 0.02 * syn.index(k) / max(len(syn), 1)
            elif k in _KNOWN:
                continue  # a known word of another column, not a misspelling of this one
            else:
                best = max([_similarity(k, s) for s in [_compact(col.name), *syn]])
                score = 0.8 * best if best >= 0.8 else 0.0
            if score <= 0:
                continue
            sample = [r[i] for r in rows if i < len(r)]
            score *= 0.5 + 0.5 * _parses(col.kind, sample, col)
            candidates.append((score, col.name, i))
    chosen: dict[str, tuple[str | list[str], float]] = {}
    used: set[int] = set()
    for score, col, i in sorted(candidates, key=lambda c: -c[0]):
        if col in chosen or i in used or score < 0.45:
            continue
        chosen[col] = (headers[i], round(score, 2))
        used.add(i)
    if "name" in t.column_names and ("name" not in chosen or chosen["name"][1] < 0.8):
        first = next(
            (h for h, k in zip(headers, keys, strict=True) if k in [_compact(x) for x in FIRST_NAMES]), None
        )
        last = next(
            (h for h, k in zip(headers, keys, strict=True) if k in [_compact(x) for x in LAST_NAMES]), None
        )
        if first and last:
            chosen["name"] = ([first, last], 0.9)
    key = t.key[0] if len(t.key) == 1 else None
    if table in ("accounts", "team") and "name" not in chosen and key in chosen:
        chosen["name"] = (chosen[key][0], 0.5)  # named by its id ("account", "sales_agent" hold names)
    return chosen


def propose_mapping(files: list[Path]) -> Mapping:
    """A first mapping from header names and sample values, with a confidence per column.

    Each file is given the table it fits best (its required columns all found, the file name
    as a hint); each table takes at most one file. Files that fit no table are named in
    ``notes`` (describe them with ``sql``).
    """
    options: list[tuple[float, Path, str, dict[str, tuple[str | list[str], float]]]] = []
    for path in files:
        if path.suffix.lower() not in TABULAR_SUFFIXES:
            continue
        headers, rows = sample_rows(path)
        if not headers:
            continue
        for table in LOAD_ORDER:
            chosen = _column_scores(table, headers, rows)
            t = TABLES[table]
            req = [c.name for c in t.required]
            if not all(c in chosen for c in req):
                continue
            optional = [c.name for c in t.columns if not c.required]
            score = (
                sum(chosen[c][1] for c in req) / len(req)
                + 0.2 * sum(c in chosen for c in optional) / max(len(optional), 1)
                + (0.5 if named_like(path, table) else 0.0)
            )
            options.append((score, path, table, chosen))
    mapping = Mapping()
    taken: set[Path] = set()
    for score, path, table, chosen in sorted(options, key=lambda o: -o[0]):
        if path in taken or table in mapping.tables:
            continue
        tm = TableMapping(table, file=path.name)
        for col in TABLES[table].column_names:
            if col in chosen:
                tm.columns[col] = chosen[col][0]
                tm.confidence[col] = chosen[col][1]
        mapping.tables[table] = tm
        taken.add(path)
        del score
    if "revenue" in mapping.tables:
        _monthly_revenue(mapping.tables["revenue"], files)
    if "accounts" not in mapping.tables:
        _derived_accounts(mapping, files)
    if "accounts" in mapping.tables and "opportunities" not in mapping.tables:
        _derived_opportunities(mapping, files)
    for tm in mapping.tables.values():
        _us_dates(tm, files)
    used = {tm.file for tm in mapping.tables.values()}
    unassigned = [p.name for p in files if p.suffix.lower() in TABULAR_SUFFIXES and p not in taken
                  and p.name not in used]
    if unassigned:
        mapping.notes.append(
            'Files that fit no table by their headers (describe them with sql = "select ... from <file stem>"): '
            + ", ".join(unassigned)
        )
    return mapping


def _monthly_revenue(tm: TableMapping, files: list[Path]) -> None:
    """Revenue read from lines with a day in their date (orders, invoices) is summed per
    account, month and product line (``group_by``)."""
    path = next((p for p in files if p.name == tm.file), None)
    period = tm.columns.get("period")
    if path is None or not isinstance(period, str):
        return
    headers, rows = sample_rows(path)
    i = headers.index(period)
    values = [r[i].strip() for r in rows if i < len(r) and r[i].strip()]
    if values and all(_is_date(v) and not _is_month(v) for v in values):
        tm.group_by = [c for c in ("account_id", "period", "product_line") if c in tm.columns]
        tm.aggregate = {c: "sum" for c in ("revenue", "gross_margin") if c in tm.columns}


def _us_dates(tm: TableMapping, files: list[Path]) -> None:
    """Dates written month first (1/15/2023) get ``date_format``: the loader reads day first."""
    path = next((p for p in files if p.name == tm.file), None)
    dates = [s for c, s in tm.columns.items() if isinstance(s, str) and TABLES[tm.table].column(c).kind
             in ("date", "month")]
    if path is None or not dates:
        return
    headers, rows = sample_rows(path)
    values = [r[headers.index(h)].strip() for h in dates for r in rows
              if headers.index(h) < len(r) and r[headers.index(h)].strip()]

    def parses(v: str, fmt: str) -> bool:
        try:
            dt.datetime.strptime(v, fmt)
            return True
        except ValueError:
            return False

    if values and all(parses(v, "%m/%d/%Y") for v in values) and not all(parses(v, "%d/%m/%Y") for v in values):
        tm.date_format = "%m/%d/%Y"


def _is_month(v: str) -> bool:
    for fmt in ("%Y-%m", "%m.%Y", "%m/%Y", "%Y/%m"):
        try:
            dt.datetime.strptime(v, fmt)
            return True
        except ValueError:
            continue
    return False


def _derived_accounts(mapping: Mapping, files: list[Path]) -> None:
    """Without a customer file, accounts are derived from the file that names customers (order
    lines, deals): one account per customer id (``group_by``), the first non-empty name."""
    ordered = [mapping.tables[t].file for t in ("revenue", "opportunities", "activities") if t in mapping.tables]
    paths = sorted((p for p in files if p.suffix.lower() in TABULAR_SUFFIXES),
                   key=lambda p: ordered.index(p.name) if p.name in ordered else len(ordered))
    for path in paths:
        headers, rows = sample_rows(path)
        chosen = _column_scores("accounts", headers, rows)
        tm = TableMapping("accounts", file=path.name, group_by=["account_id"])
        if "account_id" in chosen:
            how = f"one per {chosen['account_id'][0]}"
        elif "name" in chosen and chosen["name"][1] >= 0.8:
            # no customer id, only the name: the name is the key, compared without case and
            # spaces (normalise), so "acme corp " and "Acme Corp" are one account
            chosen["account_id"] = (chosen["name"][0], 0.7)
            tm.normalise = ["account_id"]
            how = f"one per {chosen['name'][0]} (compared without case and extra spaces)"
        else:
            continue
        for col in ("account_id", "name", "industry", "region", "country"):
            if col in chosen:
                tm.columns[col], tm.confidence[col] = chosen[col]
        mapping.tables["accounts"] = tm
        mapping.notes.append(
            f"No customer file: accounts are derived from {path.name}, {how} "
            "(group_by); their other columns take the first non-empty value.")
        return


_WON = ("closed won", "closedwon", "won", "gewonnen", "cerrada ganada")
_LOST = ("closed lost", "closedlost", "lost", "verloren", "cerrada perdida")


def _derived_opportunities(mapping: Mapping, files: list[Path]) -> None:
    """Deals in the file the accounts are derived from (a pipeline export: customer, deal name,
    stage, value, close date): the same customer key, the deal's name as its id when it is
    unique in the sample, and the status read from the stage (Closed Won, Closed Lost, else open)."""
    acc = mapping.tables["accounts"]
    path = next((p for p in files if p.name == acc.file), None)
    if path is None or not acc.group_by:
        return
    headers, rows = sample_rows(path)
    chosen = _column_scores("opportunities", headers, rows)
    key = acc.columns.get("account_id")
    if not isinstance(key, str) or "stage" not in chosen and "status" not in chosen:
        return
    tm = TableMapping("opportunities", file=path.name, normalise=list(acc.normalise))
    chosen["account_id"] = (key, acc.confidence.get("account_id", 0.7))
    if "opportunity_id" not in chosen and "name" in chosen and isinstance(chosen["name"][0], str):
        i = headers.index(chosen["name"][0])
        names = [r[i].strip() for r in rows if i < len(r) and r[i].strip()]
        if names and len(set(names)) == len(names):
            chosen["opportunity_id"] = (chosen["name"][0], 0.5)  # unique in the sample: check it
    if "status" not in chosen and isinstance(chosen.get("stage", ("", 0))[0], str):
        i = headers.index(chosen["stage"][0])
        stages = list(dict.fromkeys(r[i].strip() for r in rows if i < len(r) and r[i].strip()))
        if any(s.casefold() in _WON + _LOST for s in stages):
            chosen["status"] = (chosen["stage"][0], 0.7)
            tm.values["status"] = {s: "won" if s.casefold() in _WON else "lost" if s.casefold() in _LOST
                                   else "open" for s in stages}
    if not all(c.name in chosen for c in TABLES["opportunities"].required):
        return
    for col in TABLES["opportunities"].column_names:
        if col in chosen:
            tm.columns[col], tm.confidence[col] = chosen[col]
    mapping.tables["opportunities"] = tm
    mapping.notes.append(
        f"Deals from {path.name} too: status from {chosen['status'][0]} (Closed Won, Closed Lost, else open; "
        "a stage the sample did not show needs a line in [tables.opportunities.values.status]).")


def draft_mapping_text(files: list[Path]) -> str:
    """A draft mapping file for these files, as TOML text with confidences as comments."""
    mapping = propose_mapping(files)
    mapping.notes.insert(
        0,
        "Draft mapping generated from the files' headers and sample values: check every\n"
        "line (confidence 1.0 = exact name, 0.9 = a known synonym, lower = a guess),\n"
        "then load with: python -m kam_core load SOURCE --db kam.duckdb --mapping THIS_FILE\n"
        "The format is described in docs/importing.md.",
    )
    if not mapping.tables:
        mapping.notes.append("No file fits a table yet: add [tables.accounts] with file and [columns].")
    return mapping.to_toml()

