-- Step "contact_links": every active contact with an active relationship, its relationships
-- as one list (member, strength, last contact): the coverage step reads a contact's best and
-- runner-up relationship from the list without grouping millions of relationships.
-- Input: the step relationship_links.
select
    account_no,
    any_value(piece_code) as piece_code,
    any_value(key_piece) as key_piece,
    list({
        'member_no': member_no,
        'strength': strength,
        'last_contact_date': last_contact_date,
    }) as links,
from step_relationship_links
group by contact_id, account_no
