-- Step "activity": the latest activity per account on or before as_of. Input: activities.
select
    account_id,
    max(date) as last_activity_date,
from activities
where date <= $as_of
group by account_id
