-- Step "members": the team members who count for coverage, numbered in member_id order
-- (the coverage steps group and tie-break by the number). Inputs: team, relationships.
-- Active: the team table says so (blank: active); a member the team table does not know is
-- not; without a team table every member named in a relationship counts as active.
with

ids as (
    select member_id from team
    union
    select member_id from relationships where not $has_team
)

select
    (row_number() over (order by ids.member_id) - 1)::integer as member_no,
    ids.member_id,
from ids
left join team
    on team.member_id = ids.member_id
where coalesce(team.is_active, true)
