-- Step "account_contacts": per account, its active contacts counted — in all, the key
-- players (king, queen, rook), the kings — and by piece and attitude, and its active
-- members counted by their strongest relationship: the contact-side coverage figures and the
-- threads come from these without grouping or listing contacts at run time.
-- Inputs: contacts and the steps names and member_holds. A blank piece is a pawn, a blank
-- attitude neutral; a piece or attitude is coded by its place in $pieces or $attitudes (0:
-- none of them). cells and cell_counts: the account's contacts per (piece, attitude) cell,
-- cell piece_code × (attitudes + 1) + attitude_code + 1 (1-based), in cell order.
-- king_attitudes: bit attitude_code set for each attitude among the active kings.
-- member_counts[s + 1]: members whose strongest relationship with an active contact of the
-- account is at least s (0–4).
with

coded as (
    select
        names.account_no,
        contacts.piece,
        coalesce(list_position($pieces::varchar[], coalesce(contacts.piece, 'pawn')), 0) as piece_code,
        coalesce(list_position($attitudes::varchar[], coalesce(contacts.attitude, 'neutral')), 0)
            as attitude_code,
    from contacts
    inner join step_names as names
        on names.account_id = contacts.account_id
    where coalesce(contacts.is_active, true)
),

cells as (
    select
        account_no,
        piece_code * (len($attitudes::varchar[]) + 1) + attitude_code + 1 as cell,
        count(*) as contacts_count,
        count(*) filter (where piece in ('king', 'queen', 'rook')) as key_players_count,
        count(*) filter (where piece = 'king') as kings_count,
        bit_or(1 << attitude_code) filter (where piece = 'king') as king_attitudes,
    from coded
    group by all
),

contacts_by_account as (
    select
        account_no,
        sum(contacts_count) as contacts_count,
        sum(key_players_count) as key_players_count,
        sum(kings_count) as kings_count,
        list(cell order by cell) as cells,
        list(contacts_count order by cell) as cell_counts,
        coalesce(bit_or(king_attitudes), 0) as king_attitudes,
    from cells
    group by account_no
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
    c.contacts_count::bigint as contacts_count,
    c.key_players_count::bigint as key_players_count,
    c.kings_count::bigint as kings_count,
    c.cells::integer[] as cells,
    c.cell_counts::integer[] as cell_counts,
    c.king_attitudes::integer as king_attitudes,
    coalesce(m.member_counts, [0, 0, 0, 0, 0]) as member_counts,
from contacts_by_account as c
full join members_by_account as m
    on m.account_no = c.account_no
