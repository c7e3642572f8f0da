-- Query "manual_scores": the manual criteria's scores (0-10) as one column per criterion,
-- one row per account (null: no score given). Input: accounts, criterion_scores.
-- The columns placeholder below becomes one line per manual criterion j, made by code:
--     max(score) filter (where criterion_id = $criterion_j) as "manual_score_<criterion_id>",
with

scores as (
    select
        account_id,
        criterion_id,
        cast(score as double) as score,
    from criterion_scores
    where criterion_id in (select unnest($manual_criteria::varchar[]))
),

pivoted as (
    select
        account_id,
{columns}
    from scores
    group by account_id
)

select
    accounts.account_id,
    accounts.name,
    pivoted.* exclude (account_id),
from accounts
left join pivoted
    on pivoted.account_id = accounts.account_id
