-- Step "plan": the account plan per account (spec §3.4): the step plan_facts (stored at load
-- time) and whether the next review is overdue under the review cadence of the settings.
-- Inputs: the step plan_facts; without a reviews table review_overdue is null.
select
    account_id,
    phase,
    mentor_id,
    open_actions,
    overdue_actions,
    done_actions,
    last_review_date,
    days_since_review,
    last_rating,
    case
        when not $has_reviews then null
        when last_review_date is null then true
        else days_since_review > $review_cadence_days
    end as review_overdue,
    reviews_count,
    latest_rating,
    latest_rating_date,
from step_plan_facts
