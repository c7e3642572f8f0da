-- Step "account_metrics": every metric a derived criterion may name (spec §3.1), one row
-- per account, as doubles (null: the account does not have the metric), then the manual
-- criteria's scores (the scoring inputs in one row). Inputs: accounts and the steps
-- coverage, growth and manual_scores.
select
    accounts.account_id,
    accounts.name,
    -- the customer's own size
    cast(accounts.annual_revenue as double) as annual_revenue,
    -- relationship coverage (§3.2)
    cast(coverage.coverage as double) as coverage,
    cast(coverage.key_players_covered as double) as key_players_covered,
    cast(coverage.threads as double) as threads,
    cast(coverage.support_balance as double) as support_balance,
    -- growth and profitability (§3.3)
    cast(growth.ttm_revenue as double) as ttm_revenue,
    cast(growth.revenue_growth as double) as revenue_growth,
    cast(growth.ttm_gross_margin as double) as ttm_gross_margin,
    cast(growth.gross_margin_pct as double) as gross_margin_pct,
    cast(growth.gross_margin_growth as double) as gross_margin_growth,
    cast(growth.share_of_wallet as double) as share_of_wallet,
    cast(growth.whitespace as double) as whitespace,
    cast(growth.open_pipeline as double) as open_pipeline,
    cast(growth.weighted_pipeline as double) as weighted_pipeline,
    cast(growth.win_rate as double) as win_rate,
    -- manual_score_<criterion_id>, one per manual criterion
    manual.* exclude (account_id, name),
from accounts
left join step_coverage as coverage
    on coverage.account_id = accounts.account_id
left join step_growth as growth
    on growth.account_id = accounts.account_id
left join step_manual_scores as manual
    on manual.account_id = accounts.account_id
