-- Query "portfolio_figures": the portfolio-level figures of any set of accounts (spec §3.3):
-- the whole portfolio (report summary) or the accounts a page's filters select. Input:
-- figure_accounts, one row per account with the columns of the step "growth". Sums of a
-- metric whose table was not loaded stay null.
with

ranked as (
    select
        ttm_revenue,
        row_number() over (order by ttm_revenue desc) as revenue_rank,
    from figure_accounts
    -- concentration over the accounts that bought something
    where round(ttm_revenue, 6) > 0
),

concentration as (
    select
        count(*) as accounts_with_revenue,
        sum(ttm_revenue) as positive_ttm_revenue,
        sum(ttm_revenue) filter (where revenue_rank <= 10) as top10_revenue,
        sum(ttm_revenue * ttm_revenue) as sum_of_squares,
    from ranked
),

totals as (
    select
        count(*) as accounts_count,
        sum(ttm_revenue) as ttm_revenue,
        sum(prior_ttm_revenue) as prior_ttm_revenue,
        sum(ttm_gross_margin) as ttm_gross_margin,
        sum(prior_ttm_gross_margin) as prior_ttm_gross_margin,
        sum(ttm_margin_revenue) as ttm_margin_revenue,
        sum(annual_potential) as annual_potential,
        sum(whitespace) as whitespace,
        sum(open_deals) as open_deals,
        sum(open_deals_without_amount) as open_deals_without_amount,
        sum(open_pipeline) as open_pipeline,
        sum(weighted_pipeline) as weighted_pipeline,
        count(weighted_pipeline) as weighted_pipeline_known,
        sum(won_deals) as won_deals,
        sum(lost_deals) as lost_deals,
    from figure_accounts
),

final as (
    select
        case when $has_accounts then t.accounts_count end as accounts_count,

        -- revenue and margin; gross_margin_pct over the revenue of the rows with a margin
        case when $has_revenue then coalesce(t.ttm_revenue, 0) end as ttm_revenue,
        case when $has_revenue then coalesce(t.prior_ttm_revenue, 0) end as prior_ttm_revenue,
        case
            when round(t.prior_ttm_revenue, 6) > 0
                then t.ttm_revenue / t.prior_ttm_revenue - 1
        end as revenue_growth,
        t.ttm_gross_margin,
        t.prior_ttm_gross_margin,
        case
            when round(t.ttm_margin_revenue, 6) <> 0
                then t.ttm_gross_margin / t.ttm_margin_revenue
        end as gross_margin_pct,
        case
            when round(t.prior_ttm_gross_margin, 6) > 0
                then t.ttm_gross_margin / t.prior_ttm_gross_margin - 1
        end as gross_margin_growth,

        -- concentration
        case when $has_revenue then c.accounts_with_revenue end as accounts_with_revenue,
        case
            when $has_revenue and c.accounts_with_revenue > 0
                then c.top10_revenue / c.positive_ttm_revenue
        end as top10_share,
        case
            when $has_revenue and c.accounts_with_revenue > 0
                then c.sum_of_squares / (c.positive_ttm_revenue * c.positive_ttm_revenue)
        end as herfindahl,

        -- potential
        case when $has_potential then coalesce(t.annual_potential, 0) end as annual_potential,
        case
            when $has_revenue and round(t.annual_potential, 6) > 0
                then t.ttm_revenue / t.annual_potential
        end as share_of_wallet,
        case when $has_revenue and $has_potential then coalesce(t.whitespace, 0) end as whitespace,

        -- pipeline
        case when $has_opportunities then coalesce(t.open_deals, 0) end as open_opportunities,
        case when $has_opportunities then coalesce(t.open_deals_without_amount, 0) end
            as open_deals_without_amount,
        case when $has_opportunities then coalesce(t.open_pipeline, 0) end as open_pipeline,
        -- (null when no deal has a probability: the accounts' values are null then)
        case
            when $has_opportunities and (t.weighted_pipeline_known > 0 or t.accounts_count = 0)
                then coalesce(t.weighted_pipeline, 0)
        end as weighted_pipeline,
        case
            when t.won_deals + t.lost_deals > 0
                then t.won_deals / (t.won_deals + t.lost_deals)
        end as win_rate,
    from totals as t
    cross join concentration as c
)

select * from final
