-- Step "account_contacts": per account, its active contacts as one list (piece and attitude
-- by their place in $pieces and $attitudes, key_piece 2 for a king and 1 for a queen or
-- rook) and its active members counted by their strongest relationship: the contact-side
-- coverage figures and the threads come from these without grouping contacts at run time.
-- Inputs: contacts and the steps names and member_holds. A blank piece is a pawn, a blank
-- attitude neutral. member_counts[s + 1]: members whose strongest relationship with an active
-- contact of the account is at least s (0–4).
with

contacts_by_account as (
    select
        names.account_no,
        list({
            'piece_code': list_position($pieces::varchar[], coalesce(contacts.piece, 'pawn'))::utinyint,
            'key_piece': (case contacts.piece when 'king' then 2 when 'queen' then 1 when 'rook' then 1 else 0 end)::utinyint,
            'attitude_code': list_position($attitudes::varchar[], coalesce(contacts.attitude, 'neutral'))::utinyint,
        }) as contacts,
    from contacts
    inner join step_names as names
        on names.account_id = contacts.account_id
    where coalesce(contacts.is_active, true)
    group by names.account_no
),

members_by_account as (
    select
        account_no,
        [
            count(*),
            count(*) filter (where max_strength >= 1),
            count(*) filter (where max_strength >= 2),
            count(*) filter (where max_strength >= 3),
            count(*) filter (where max_strength >= 4),
        ] as member_counts,
    from step_member_holds
    group by account_no
)

select
    coalesce(c.account_no, m.account_no) as account_no,
    c.contacts,
    coalesce(m.member_counts, [0, 0, 0, 0, 0]) as member_counts,
from contacts_by_account as c
full join members_by_account as m
    on m.account_no = c.account_no
