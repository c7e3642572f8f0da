-- Step "revenue_lines": ttm revenue per account and product line (spec §3.3, for
-- whitespace and open lines). Input: revenue.
select
    account_id,
    product_line,
    sum(revenue) as ttm_revenue,
from revenue
where period >= $ttm_start
    and period < $next_month_start
group by account_id, product_line
