-- Step "names": every account with the names of its account manager and mentor (their ids
-- when the team table does not know them), and its number in account_id order (the coverage
-- steps group by it). Inputs: accounts, team.
select
    accounts.account_id,
    (row_number() over (order by accounts.account_id) - 1)::integer as account_no,
    accounts.name,
    accounts.industry,
    accounts.region,
    accounts.country,
    accounts.phase,
    accounts.annual_revenue,
    accounts.key_account_since,
    accounts.account_manager_id,
    accounts.mentor_id,
    coalesce(managers.name, accounts.account_manager_id) as account_manager,
    coalesce(mentors.name, accounts.mentor_id) as mentor,
from accounts
left join team as managers
    on managers.member_id = accounts.account_manager_id
left join team as mentors
    on mentors.member_id = accounts.mentor_id
