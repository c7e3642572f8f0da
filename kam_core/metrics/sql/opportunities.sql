-- Step "opportunities": the pipeline per account as it stood on as_of (spec §3.3).
-- Input: opportunities. Created after as_of: not there yet; won or lost after as_of: still
-- open. An open deal without an amount counts as a deal and adds nothing to the sums; a
-- missing probability adds nothing to the weighted pipeline.
with

opportunities_as_of as (
    select
        account_id,
        amount,
        probability,
        close_date,
        case
            when status in ('won', 'lost') and close_date > $as_of then 'open'
            else status
        end as status_as_of,
    from opportunities
    where created_date is null
        or created_date <= $as_of
),

final as (
    select
        account_id,
        coalesce(sum(amount) filter (where status_as_of = 'open'), 0) as open_pipeline,
        coalesce(sum(amount * probability) filter (where status_as_of = 'open'), 0)
            as weighted_pipeline,
        count(*) filter (where status_as_of = 'open') as open_deals,
        count(*) filter (where status_as_of = 'open' and amount is null)
            as open_deals_without_amount,
        -- won or lost with a close date in M-11..M (and not after as_of: see status_as_of)
        count(*) filter (where status_as_of = 'won' and close_date >= $ttm_start) as won_count,
        count(*) filter (where status_as_of = 'lost' and close_date >= $ttm_start) as lost_count,
    from opportunities_as_of
    group by account_id
)

select * from final
