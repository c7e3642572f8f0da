-- Step "member_holds": per account and active member, how many of the account's active
-- contacts the member has a relationship with and the strongest of those relationships
-- (threads; a member holding one contact only can be nobody else's key person there).
-- Input: the step relationship_links.
select
    account_no,
    member_no,
    count(*) as contacts_count,
    max(strength) as max_strength,
from step_relationship_links
group by account_no, member_no
