-- Step "coverage": relationship coverage per account (spec §3.2). Inputs: accounts,
-- contacts, relationships, team. Only active contacts and active members count; without a
-- team table every member counts as active.
--
-- e = strength / 4 × 0.5^(days since last contact / half life); eᶜ = best e of a contact.
-- The key-person dependency keeps, per contact, the best e (member m1) and the best e of a
-- different member (e2, 0 if none): removing m only lowers the contacts whose m1 is m, each
-- to e2, so loss(m) = Σ vᶜ·(e1 − e2) over them and a tie for the best loses nothing.
with

-- each contact's piece value and attitude value from the settings (looked up in the two
-- parameter lists: cheaper than joining value tables once the relationships are joined)
active_contacts as not materialized (
    select
        contact_id,
        account_id,
        coalesce(piece, 'pawn') as piece,
        coalesce(
            list_extract($piece_values::double[], list_position($piece_names::varchar[], coalesce(piece, 'pawn'))),
            0
        ) as piece_value,
        -- 2 king, 1 queen or rook: the key players
        case piece when 'king' then 2 when 'queen' then 1 when 'rook' then 1 else 0 end as key_piece,
        coalesce(attitude, 'neutral') as attitude,
        coalesce(
            list_extract(
                $attitude_values::double[], list_position($attitude_names::varchar[], coalesce(attitude, 'neutral'))
            ),
            0
        ) as attitude_value,
    from contacts
    where coalesce(is_active, true)
),

-- a member is active when the team table says so (blank: active); a member the team table
-- does not know is not; without a team table every member counts as active
members as (
    select
        member_id,
        coalesce(is_active, true) as is_active,
    from team
),

effective_relationships as (
    select
        active_contacts.account_id,
        relationships.contact_id,
        relationships.member_id,
        relationships.strength,
        active_contacts.key_piece,
        active_contacts.piece_value,
        -- a last contact after as_of counts as 0 days; no date: no decay
        relationships.strength / 4 * pow(
            0.5,
            coalesce(greatest(date_diff('day', relationships.last_contact_date, $as_of::date), 0), 0)
                / $half_life_days::double
        ) as effective_strength,
    from relationships
    inner join active_contacts
        on active_contacts.contact_id = relationships.contact_id
    left join members
        on members.member_id = relationships.member_id
    where coalesce(members.is_active, not $has_team)
),

contact_best as (
    -- (member, contact) is the relationships key, so the second value of the top-2
    -- list belongs to a different member than the first. Grouped by account too, and the
    -- piece as a number: both cheaper than carrying text through the aggregate.
    select
        account_id,
        contact_id,
        max(piece_value) as piece_value,
        max(key_piece) as key_piece,
        max(effective_strength) as best_strength,
        arg_max(member_id, effective_strength) as best_member_id,
        coalesce(max(effective_strength, 2)[2], 0) as second_strength,
    from effective_relationships
    group by account_id, contact_id
),

account_contacts as (
    select
        account_id,
        count(*) as contacts_count,
        sum(piece_value) as total_value,
        count(*) filter (where piece in ('king', 'queen', 'rook')) as key_players_count,
        count(*) filter (where piece = 'king') as kings_count,
        sum(piece_value * attitude_value) as support_balance,
        count(*) filter (
            where round(attitude_value, 6) < 0
                and round(piece_value, 6) >= $high_influence_value
        ) as high_influence_opponents,
        -- the worst attitude among the active kings
        arg_min(attitude, attitude_value) filter (where piece = 'king') as king_attitude,
    from active_contacts
    group by account_id
),

-- per account and the member who holds a contact's best relationship
member_reach as (
    select
        account_id,
        best_member_id as member_id,
        sum(piece_value * best_strength) as covered_value,
        -- key_piece: 2 king, 1 queen or rook
        count(*) filter (
            where key_piece > 0 and round(best_strength, 6) >= $covered_threshold
        ) as key_players_covered_count,
        count(*) filter (
            where key_piece = 2 and round(best_strength, 6) >= $covered_threshold
        ) as kings_covered_count,
        -- removing the member lowers these contacts to their runner-up (ties lose nothing)
        sum(piece_value * (best_strength - second_strength)) as value_lost,
    from contact_best
    group by account_id, best_member_id
),

account_reach as (
    select
        account_id,
        sum(covered_value) as covered_value,
        sum(key_players_covered_count) as key_players_covered_count,
        sum(kings_covered_count) as kings_covered_count,
        max(value_lost) as max_value_lost,
        -- the smallest member_id on a tie
        arg_min(member_id, (-value_lost, member_id)) as key_person_id,
    from member_reach
    group by account_id
),

account_threads as (
    select
        account_id,
        count(distinct member_id) as threads,
    from effective_relationships
    where strength >= $thread_strength
    group by account_id
),

account_coverage as (
    select
        accounts.account_id,
        account_contacts.contacts_count,
        account_contacts.total_value,
        coalesce(account_reach.covered_value, 0) as covered_value,
        account_contacts.key_players_count,
        coalesce(account_reach.key_players_covered_count, 0) as key_players_covered_count,
        coalesce(account_contacts.kings_count, 0) as kings_count,
        coalesce(account_reach.kings_covered_count, 0) as kings_covered_count,
        account_contacts.support_balance,
        account_contacts.high_influence_opponents,
        account_contacts.king_attitude,
        account_threads.threads,
        account_reach.max_value_lost,
        account_reach.key_person_id,
        case
            when $has_contacts and $has_relationships
                then 100 * coalesce(account_reach.covered_value, 0)
                    / nullif(account_contacts.total_value, 0)
        end as coverage,
    from accounts
    left join account_contacts
        on account_contacts.account_id = accounts.account_id
    left join account_reach
        on account_reach.account_id = accounts.account_id
    left join account_threads
        on account_threads.account_id = accounts.account_id
),

final as (
    select
        account_id,
        case when $has_contacts then coalesce(contacts_count, 0) end as contacts_count,
        coverage,
        case
            when $has_contacts and $has_relationships
                then key_players_covered_count / nullif(key_players_count, 0)
        end as key_players_covered,
        case
            when not $has_contacts then null
            -- no king identified is itself a finding
            when kings_count = 0 then false
            when not $has_relationships then null
            else kings_covered_count > 0
        end as king_covered,
        case
            when $has_contacts and $has_relationships then coalesce(threads, 0)
        end as threads,
        case
            when $has_contacts and $has_relationships then coalesce(threads, 0) <= 1
        end as single_threaded,
        case
            when coverage is null then null
            when round(coverage, 6) = 0 then 0
            else coalesce(max_value_lost, 0) / covered_value
        end as key_person_dependency,
        case
            when round(coverage, 6) > 0 and round(max_value_lost / covered_value, 6) > 0
                then key_person_id
        end as key_person_id,
        case when $has_contacts then coalesce(support_balance, 0) end as support_balance,
        case
            when $has_contacts then coalesce(high_influence_opponents, 0)
        end as high_influence_opponents,
        king_attitude,
    from account_coverage
)

select * from final
