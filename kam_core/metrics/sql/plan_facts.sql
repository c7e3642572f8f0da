-- Step "plan_facts": the account plan per account: phase, mentor, actions and reviews (spec
-- §3.4), as of the as-of date and without any setting (stored at load time; the step "plan"
-- adds what depends on the settings). Inputs: accounts, plan_actions, reviews. Reviews after
-- as_of have not happened yet; plan actions carry no creation date and count as stored.
-- Action figures are null without a plan_actions table, review figures without a reviews
-- table.
with

actions_by_account as (
    select
        account_id,
        -- a blank status is open (spec §1)
        count(*) filter (where coalesce(status, 'open') = 'open') as open_actions,
        count(*) filter (where coalesce(status, 'open') = 'open' and due_date < $as_of)
            as overdue_actions,
        count(*) filter (where status = 'done') as done_actions,
    from plan_actions
    group by account_id
),

reviews_as_of as (
    select
        account_id,
        review_date,
        rating,
        -- on a tie the worst rating speaks
        case rating
            when 'off_track' then 3
            when 'at_risk' then 2
            when 'on_track' then 1
            else 0
        end as severity,
        -- (review_date, severity) as one number, in the same order: days × 4 + severity
        (review_date - date '1970-01-01') * 4 + severity as review_key,
    from reviews
    where review_date <= $as_of
),

reviews_by_account as (
    select
        account_id,
        count(*) as reviews_count,
        max(review_date) as last_review_date,
        -- the latest review, and among the reviews of that day the worst rating
        arg_max_null(rating, review_key) as last_rating,
        -- the latest review that has a rating (the mentor's latest verdict)
        max(review_date) filter (where rating is not null) as latest_rating_date,
        arg_max(rating, review_key) filter (where rating is not null) as latest_rating,
    from reviews_as_of
    group by account_id
),

final as (
    select
        accounts.account_id,
        accounts.phase,
        accounts.mentor_id,

        -- plan actions
        case when $has_plan_actions then coalesce(a.open_actions, 0) end as open_actions,
        case when $has_plan_actions then coalesce(a.overdue_actions, 0) end as overdue_actions,
        case when $has_plan_actions then coalesce(a.done_actions, 0) end as done_actions,

        -- reviews
        r.last_review_date,
        date_diff('day', r.last_review_date, $as_of) as days_since_review,
        r.last_rating,
        case when $has_reviews then coalesce(r.reviews_count, 0) end as reviews_count,
        r.latest_rating,
        r.latest_rating_date,
    from accounts
    left join actions_by_account as a
        on a.account_id = accounts.account_id
    left join reviews_by_account as r
        on r.account_id = accounts.account_id
)

select * from final
