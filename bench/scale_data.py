"""Scale data for the benchmarks: a canonical CRM export of N accounts written by DuckDB SQL.

Per account: ~15 contacts, ~30 relationships, ~100 activities, 36 months × 5 product lines of
revenue, ~10 opportunities, 5 potential rows, 4 manual criterion scores, 3 plan actions,
4 reviews, 2 competitors; 40 team members; the demo's criteria. Deterministic (hash-based).

    python bench/scale_data.py --accounts 10000 --out DIR
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import duckdb

TABLES_SQL = {
    "team": """
        select 'T-' || lpad(i::varchar, 3, '0') as member_id, 'Member ' || i as name,
               case i % 4 when 0 then 'mentor' else 'account_manager' end as role,
               'Sales' as department, 'Site ' || (i % 5) as location, (i % 37 <> 0) as is_active
        from range(1, 41) t(i)""",
    "accounts": """
        select 'A-' || lpad(i::varchar, 7, '0') as account_id, 'Account ' || i as name,
               ['Chemicals', 'Retail', 'Automotive', 'Pharma', 'Logistics'][1 + i % 5] as industry,
               ['DACH', 'Nordics', 'Benelux', 'UK', 'France', 'Iberia'][1 + i % 6] as region,
               ['DE', 'SE', 'NL', 'GB', 'FR', 'ES'][1 + i % 6] as country,
               null as parent_account_id,
               'T-' || lpad((1 + i % 40)::varchar, 3, '0') as account_manager_id,
               'T-' || lpad((4 * (1 + i % 10))::varchar, 3, '0') as mentor_id,
               ['pre_sales', 'negotiation', 'delivery', 'review', 'growth'][1 + i % 5] as phase,
               (1 + (hash(i) % 1000)::bigint) * 100000.0 as annual_revenue,
               date '2015-01-01' + ((hash(i, 1) % 3000)::bigint)::int as key_account_since
        from range(1, $n + 1) t(i)""",
    "contacts": """
        select 'C-' || lpad((a * 15 + k)::varchar, 9, '0') as contact_id,
               'A-' || lpad(a::varchar, 7, '0') as account_id, 'Contact ' || a || '-' || k as name,
               'Title ' || k as title, ['Procurement', 'IT', 'Finance', 'Operations'][1 + k % 4] as department,
               ['executive', 'senior', 'manager', 'operational'][1 + least(k, 3)] as level,
               'Site ' || (k % 3) as location,
               ['economic_buyer', 'decision_maker', 'technical_buyer', 'user', 'influencer'][1 + k % 5] as buying_role,
               case k when 0 then 'king' when 1 then 'queen' when 2 then 'rook' when 3 then 'bishop'
                      when 4 then 'knight' else 'pawn' end as piece,
               ['champion', 'supporter', 'neutral', 'neutral', 'skeptic', 'opponent'][1 + (hash(a, k) % 6)::bigint] as attitude,
               ((hash(a, k, 7) % 20)::bigint <> 0) as is_active
        from range(1, $n + 1) t(a), range(0, 15) u(k)""",
    "relationships": """
        select distinct on (member_id, contact_id) member_id, contact_id, strength, last_contact_date from (
            select 'T-' || lpad((1 + (a + r * 7 + (hash(a, r) % 3)::bigint) % 40)::varchar, 3, '0') as member_id,
                   'C-' || lpad((a * 15 + (r % 15))::varchar, 9, '0') as contact_id,
                   ((hash(a, r, 3) % 5)::bigint)::int as strength,
                   date '2026-10-31' - ((hash(a, r, 4) % 700)::bigint)::int as last_contact_date
            from range(1, $n + 1) t(a), range(0, 30) u(r))""",
    "activities": """
        select 'X-' || (a * 100 + j) as activity_id, date '2026-10-31' - ((hash(a, j) % 1095)::bigint)::int as date,
               'A-' || lpad(a::varchar, 7, '0') as account_id,
               'C-' || lpad((a * 15 + j % 15)::varchar, 9, '0') as contact_id,
               'T-' || lpad((1 + (a + j) % 40)::varchar, 3, '0') as member_id,
               ['meeting', 'call', 'email', 'workshop'][1 + j % 4] as type
        from range(1, $n + 1) t(a), range(0, 100) u(j)""",
    "revenue": """
        select 'A-' || lpad(a::varchar, 7, '0') as account_id,
               strftime(date '2023-11-01' + to_months(m::int), '%Y-%m') as period,
               ['Software', 'Services', 'Hardware', 'Support', 'Training'][1 + p] as product_line,
               round(((hash(a, p) % 10000)::bigint) * (1 + m / 100.0) + ((hash(a, m, p) % 500)::bigint), 2) as revenue,
               round(((hash(a, p) % 10000)::bigint) * 0.3, 2) as gross_margin
        from range(1, $n + 1) t(a), range(0, 36) u(m), range(0, 5) v(p)""",
    "opportunities": """
        select 'O-' || (a * 10 + o) as opportunity_id, 'A-' || lpad(a::varchar, 7, '0') as account_id,
               'Deal ' || o as name, ['Software', 'Services', 'Hardware', 'Support', 'Training'][1 + o % 5] as product_line,
               ['Qualification', 'Proposal', 'Negotiation', 'Closed'][1 + o % 4] as stage,
               ['open', 'won', 'lost'][1 + (hash(a, o) % 3)::bigint] as status,
               ((hash(a, o, 1) % 500000)::bigint)::double as amount, (((hash(a, o, 2) % 100)::bigint) / 100.0) as probability,
               date '2026-10-31' - ((hash(a, o, 3) % 700)::bigint)::int as created_date,
               date '2026-10-31' - ((hash(a, o, 4) % 400)::bigint)::int + 60 as close_date
        from range(1, $n + 1) t(a), range(0, 10) u(o)""",
    "potential": """
        select 'A-' || lpad(a::varchar, 7, '0') as account_id,
               ['Software', 'Services', 'Hardware', 'Support', 'Training'][1 + p] as product_line,
               ((hash(a, p, 9) % 2000000)::bigint)::double as annual_potential
        from range(1, $n + 1) t(a), range(0, 5) u(p)""",
    "criteria": """
        select * from (values
            ('strategic_fit', 'Strategic fit', 'attractiveness', 3.0, 'manual'),
            ('partnership_wish', 'Customer wants a partnership', 'attractiveness', 2.0, 'manual'),
            ('revenue', 'Revenue, last 12 months', 'attractiveness', 3.0, 'ttm_revenue'),
            ('growth', 'Revenue growth', 'attractiveness', 2.0, 'revenue_growth'),
            ('margin', 'Gross margin %', 'attractiveness', 2.0, 'gross_margin_pct'),
            ('customer_size', 'Customer size', 'attractiveness', 1.0, 'annual_revenue'),
            ('whitespace', 'Untapped potential', 'attractiveness', 2.0, 'whitespace'),
            ('coverage', 'Relationship coverage', 'strength', 3.0, 'coverage'),
            ('share_of_wallet', 'Share of wallet', 'strength', 2.0, 'share_of_wallet'),
            ('competitive_position', 'Competitive position', 'strength', 2.0, 'manual')
        ) t(criterion_id, name, axis, weight, source)""",
    "criterion_scores": """
        select 'A-' || lpad(a::varchar, 7, '0') as account_id,
               ['strategic_fit', 'partnership_wish', 'competitive_position'][1 + c] as criterion_id,
               ((hash(a, c, 5) % 11)::bigint)::double as score
        from range(1, $n + 1) t(a), range(0, 3) u(c)""",
    "plan_actions": """
        select 'P-' || (a * 3 + k) as action_id, 'A-' || lpad(a::varchar, 7, '0') as account_id,
               'Objective ' || k as objective, 'T-' || lpad((1 + (a + k) % 40)::varchar, 3, '0') as owner_id,
               date '2026-10-31' + ((hash(a, k) % 200)::bigint)::int - 100 as due_date,
               ['open', 'done'][1 + (hash(a, k, 1) % 2)::bigint] as status
        from range(1, $n + 1) t(a), range(0, 3) u(k)""",
    "reviews": """
        select 'A-' || lpad(a::varchar, 7, '0') as account_id,
               date '2026-10-31' - (k * 90 + (hash(a, k) % 120)::bigint)::int as review_date,
               'T-' || lpad((4 * (1 + a % 10))::varchar, 3, '0') as mentor_id,
               ['on_track', 'at_risk', 'off_track'][1 + (hash(a, k, 2) % 3)::bigint] as rating, 'Review ' || k as notes
        from range(1, $n + 1) t(a), range(0, 4) u(k)""",
    "competitors": """
        select 'A-' || lpad(a::varchar, 7, '0') as account_id, 'Competitor ' || ((hash(a, k) % 20)::bigint) as competitor,
               ['Software', 'Services', 'Hardware', 'Support', 'Training'][1 + k] as product_line,
               (((hash(a, k, 3) % 50)::bigint) / 100.0) as est_share
        from range(1, $n + 1) t(a), range(0, 2) u(k)""",
}


def write_scale_export(out: Path, accounts: int) -> dict[str, float]:
    """Write the CSV files; returns seconds per table."""
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    timings = {}
    for table, sql in TABLES_SQL.items():
        started = time.perf_counter()
        path = out / f"{table}.csv"
        con.execute(f"copy ({sql}) to '{path}' (header, delimiter ',')", {"n": accounts} if "$n" in sql else None)
        timings[table] = time.perf_counter() - started
    con.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    timings = write_scale_export(args.out, args.accounts)
    size = sum(p.stat().st_size for p in args.out.glob("*.csv")) / 1e6
    print(f"{args.accounts} accounts written to {args.out} in {sum(timings.values()):.1f} s ({size:.0f} MB)")


if __name__ == "__main__":
    main()
