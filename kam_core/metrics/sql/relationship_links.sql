-- Step "relationship_links": every relationship of an active member with an active contact,
-- in numbers: the contact's account (account_no of the step names), its piece (its position
-- in $pieces; key_piece 2 for a king, 1 for a queen or rook) and the member (member_no).
-- Inputs: contacts, relationships and the steps names and members.
select
    names.account_no,
    contacts.contact_id,
    list_position($pieces::varchar[], coalesce(contacts.piece, 'pawn'))::utinyint as piece_code,
    case contacts.piece when 'king' then 2 when 'queen' then 1 when 'rook' then 1 else 0 end::utinyint
        as key_piece,
    members.member_no,
    relationships.strength,
    relationships.last_contact_date,
from relationships
inner join contacts
    on contacts.contact_id = relationships.contact_id
inner join step_names as names
    on names.account_id = contacts.account_id
inner join step_members as members
    on members.member_id = relationships.member_id
where coalesce(contacts.is_active, true)
