-- Step "contact_links": every active contact with an active relationship, its relationships
-- as one list (member, strength, last contact, and whether the member holds relationships
-- with other contacts of the account too): the coverage step reads a contact's best and
-- runner-up relationship from the list without grouping millions of relationships.
-- Inputs: the steps relationship_links and member_holds.
select
    links.account_no,
    any_value(links.piece_code) as piece_code,
    any_value(links.key_piece) as key_piece,
    list({
        'member_no': links.member_no,
        'strength': links.strength,
        'last_contact_date': links.last_contact_date,
        'is_shared': holds.contacts_count > 1,
    }) as links,
from step_relationship_links as links
inner join step_member_holds as holds
    on holds.account_no = links.account_no
    and holds.member_no = links.member_no
group by links.contact_id, links.account_no
