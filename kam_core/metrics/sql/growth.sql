-- Step "growth": growth, profitability, potential and pipeline per account (spec §3.3).
-- Inputs: accounts, potential and the steps revenue, revenue_lines, opportunities.
-- A metric whose table was not loaded is null ($has_<table>); a loaded but empty table gives 0.
with

potential_lines as (
    select
        potential.account_id,
        potential.product_line,
        potential.annual_potential,
        coalesce(step_revenue_lines.ttm_revenue, 0) as ttm_revenue,
    from potential
    left join step_revenue_lines
        on step_revenue_lines.account_id = potential.account_id
        and step_revenue_lines.product_line = potential.product_line
),

potential_by_account as (
    select
        account_id,
        sum(annual_potential) as total_potential,
        sum(
            case
                when round(annual_potential - ttm_revenue, 6) > 0
                    then annual_potential - ttm_revenue
                else 0
            end
        ) as whitespace,
        count(*) filter (
            where round(annual_potential, 6) > 0 and round(ttm_revenue, 6) <= 0
        ) as open_lines,
        string_agg(product_line, ', ' order by product_line) filter (
            where round(annual_potential, 6) > 0 and round(ttm_revenue, 6) <= 0
        ) as open_lines_list,
    from potential_lines
    group by account_id
),

final as (
    select
        accounts.account_id,

        -- revenue
        case when $has_revenue then coalesce(r.ttm_revenue, 0) end as ttm_revenue,
        case when $has_revenue then coalesce(r.prior_ttm_revenue, 0) end as prior_ttm_revenue,
        case
            when round(r.prior_ttm_revenue, 6) > 0
                then r.ttm_revenue / r.prior_ttm_revenue - 1
        end as revenue_growth,

        -- gross margin: a percentage of the revenue of the rows that give a margin
        r.ttm_gross_margin,
        r.prior_ttm_gross_margin,
        r.ttm_margin_revenue,
        case
            when round(r.ttm_margin_revenue, 6) <> 0
                then r.ttm_gross_margin / r.ttm_margin_revenue
        end as gross_margin_pct,
        case
            when round(r.prior_ttm_gross_margin, 6) > 0
                then r.ttm_gross_margin / r.prior_ttm_gross_margin - 1
        end as gross_margin_growth,

        -- potential
        case when $has_potential then coalesce(p.total_potential, 0) end as annual_potential,
        case
            when $has_revenue and round(p.total_potential, 6) > 0
                then coalesce(r.ttm_revenue, 0) / p.total_potential
        end as share_of_wallet,
        case when $has_revenue and $has_potential then coalesce(p.whitespace, 0) end
            as whitespace,
        case when $has_revenue and $has_potential then coalesce(p.open_lines, 0) end
            as open_lines,
        case when $has_revenue and $has_potential then coalesce(p.open_lines_list, '') end
            as open_lines_list,

        -- pipeline
        case when $has_opportunities then coalesce(o.open_pipeline, 0) end as open_pipeline,
        -- deals but no probability anywhere (an export without the column): not known, not 0
        case
            when $has_opportunities
                and (select count(probability) > 0 or count(*) = 0 from opportunities)
                then coalesce(o.weighted_pipeline, 0)
        end as weighted_pipeline,
        case when $has_opportunities then coalesce(o.open_deals, 0) end as open_deals,
        case when $has_opportunities then coalesce(o.open_deals_without_amount, 0) end
            as open_deals_without_amount,
        case when $has_opportunities then coalesce(o.won_count, 0) end as won_deals,
        case when $has_opportunities then coalesce(o.lost_count, 0) end as lost_deals,
        case
            when o.won_count + o.lost_count > 0
                then o.won_count / (o.won_count + o.lost_count)
        end as win_rate,

        -- data presence (health needs it)
        r.account_id is not null as has_revenue_rows,
        case when $has_revenue then coalesce(r.months_with_revenue, 0) end
            as months_with_revenue,
    from accounts
    left join step_revenue as r
        on r.account_id = accounts.account_id
    left join potential_by_account as p
        on p.account_id = accounts.account_id
    left join step_opportunities as o
        on o.account_id = accounts.account_id
)

select * from final
