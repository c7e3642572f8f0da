-- Step "revenue": revenue and gross margin per account in the trailing twelve months
-- (M-11..M) and the twelve before (M-23..M-12) (spec §3.3). Input: revenue.
-- One row per account that has a revenue row in either window; later periods do not exist yet.
with

revenue_rows as (
    select
        account_id,
        period,
        revenue,
        gross_margin,
        period >= $ttm_start as is_ttm,
    from revenue
    where period >= $prior_start
        and period < $next_month_start
),

-- several rows of one account, month and line are one sale split up: summed first
ttm_months as (
    select
        account_id,
        period,
        sum(revenue) as revenue,
    from revenue_rows
    where is_ttm
    group by account_id, period
),

months_by_account as (
    select
        account_id,
        count(*) filter (where round(revenue, 6) > 0) as months_with_revenue,
    from ttm_months
    group by account_id
),

sums_by_account as (
    select
        account_id,
        coalesce(sum(revenue) filter (where is_ttm), 0) as ttm_revenue,
        coalesce(sum(revenue) filter (where not is_ttm), 0) as prior_ttm_revenue,
        -- null when no row of the window gives a margin
        sum(gross_margin) filter (where is_ttm) as ttm_gross_margin,
        sum(gross_margin) filter (where not is_ttm) as prior_ttm_gross_margin,
        -- the revenue of the rows that give a margin: the base of gross_margin_pct
        sum(revenue) filter (where is_ttm and gross_margin is not null) as ttm_margin_revenue,
    from revenue_rows
    group by account_id
),

final as (
    select
        sums_by_account.*,
        coalesce(months_by_account.months_with_revenue, 0) as months_with_revenue,
    from sums_by_account
    left join months_by_account
        on months_by_account.account_id = sums_by_account.account_id
)

select * from final
