-- Step "coverage": relationship coverage per account (spec §3.2). Inputs: the steps names,
-- members, contact_links and account_contacts (which read accounts, contacts, relationships
-- and team). Only active contacts and active members count; without a team
-- table every member counts as active.
--
-- e = strength / 4 × 0.5^(days since last contact / half life); eᶜ = best e of a contact.
-- The key-person dependency keeps, per contact, the best e (member m1) and the best e of a
-- different member (e2, 0 if none): removing m only lowers the contacts whose m1 is m, each
-- to e2, so loss(m) = Σ vᶜ·(e1 − e2) over them and a tie for the best loses nothing.
with

-- each contact's best relationship (the first on a tie: a tie loses nothing, whoever holds
-- it) and the runner-up: (member, contact) is the relationships key, so every other link of
-- the list belongs to a different member
contact_best as (
    select
        account_no,
        key_piece,
        coalesce(($piece_values_by_code::double[])[piece_code], 0) as piece_value,
        strengths[best] as best_strength,
        -- (most contacts have one or two relationships: no list filter for those)
        case
            when len(strengths) = 1 then 0
            when len(strengths) = 2 then list_min(strengths)
            else coalesce(list_max(list_filter(strengths, lambda strength, i: i <> best)), 0)
        end as second_strength,
        links[best].member_no as best_member_no,
        links[best].is_shared as best_is_shared,
    from (
        select
            *,
            list_position(strengths, list_max(strengths)) as best,
        from (
            select
                account_no,
                piece_code,
                key_piece,
                links,
                -- e; a last contact after as_of counts as 0 days; no date: no decay
                list_transform(
                    links,
                    lambda link: link.strength / 4 * pow(
                        0.5,
                        coalesce(greatest($as_of::date - link.last_contact_date, 0), 0) / $half_life_days::double
                    )
                ) as strengths,
            from step_contact_links
        )
    )
),

-- per account, in one pass. What a member would take along on leaving: a member holding no
-- other contact of the account takes one contact's loss (the largest such, the smallest
-- member_id on a tie: members are numbered in member_id order); the losses of members who
-- hold several contacts are listed, and summed per member below.
account_reach as (
    select
        account_no,
        sum(piece_value * best_strength) as covered_value,
        -- key_piece: 2 king, 1 queen or rook
        count(*) filter (
            where key_piece > 0 and round(best_strength, 6) >= $covered_threshold
        ) as key_players_covered_count,
        count(*) filter (
            where key_piece = 2 and round(best_strength, 6) >= $covered_threshold
        ) as kings_covered_count,
        max(piece_value * (best_strength - second_strength)) filter (where not best_is_shared)
            as single_value_lost,
        arg_min(best_member_no, (-piece_value * (best_strength - second_strength), best_member_no))
            filter (where not best_is_shared) as single_member_no,
    from contact_best
    group by account_no
),

shared_member_losses as (
    select account_no, best_member_no as member_no,
        sum(piece_value * (best_strength - second_strength)) as loss,
    from contact_best
    where best_is_shared
    group by account_no, best_member_no
),
shared_losses as (
    select
        account_no,
        min({'negative_loss': -loss, 'member_no': member_no}) as largest,
    from shared_member_losses
    group by account_no
),

-- what a contact of each (piece, attitude) cell of account_contacts counts for under the
-- settings (one row): its piece value, its piece value × attitude value (support balance),
-- whether it is a high-influence opponent; and per set of king attitudes (a bit per
-- attitude code) the worst of them — the lowest attitude value, then the first name
settings_cells as (
    select
        list(coalesce(($piece_values_by_code::double[])[piece_code], 0) order by piece_code, attitude_code)
            as piece_values,
        list(
            coalesce(($piece_values_by_code::double[])[piece_code], 0)
                * coalesce(($attitude_values_by_code::double[])[attitude_code], 0)
            order by piece_code, attitude_code
        ) as support_values,
        list(
            (round(coalesce(($attitude_values_by_code::double[])[attitude_code], 0), 6) < 0
                and round(coalesce(($piece_values_by_code::double[])[piece_code], 0), 6) >= $high_influence_value
            )::integer
            order by piece_code, attitude_code
        ) as opponent_flags,
    from range(0, len($pieces::varchar[]) + 1) as p(piece_code)
    cross join range(0, len($attitudes::varchar[]) + 1) as a(attitude_code)
),

king_attitudes as (
    select
        list(worst order by mask) as worst_by_mask,
    from (
        select
            masks.mask,
            arg_min(
                ($attitudes::varchar[])[codes.code],
                {'value': coalesce(($attitude_values_by_code::double[])[codes.code], 0),
                 'attitude': ($attitudes::varchar[])[codes.code]}
            ) filter (where masks.mask & (1 << codes.code) <> 0) as worst,
        from range(0, 1 << (len($attitudes::varchar[]) + 1)) as masks(mask)
        cross join range(0, len($attitudes::varchar[]) + 1) as codes(code)
        group by masks.mask
    )
),

-- the contact-side figures from each account's contact counts per cell
account_contacts as (
    select
        account_no,
        member_counts,
        contacts_count,
        list_dot_product(cell_counts, list_select(cells_values.piece_values, cells)) as total_value,
        key_players_count,
        kings_count,
        list_dot_product(cell_counts, list_select(cells_values.support_values, cells)) as support_balance,
        list_dot_product(cell_counts, list_select(cells_values.opponent_flags, cells))::bigint
            as high_influence_opponents,
        (kings.worst_by_mask)[king_attitudes + 1] as king_attitude,
    from step_account_contacts
    cross join settings_cells as cells_values
    cross join king_attitudes as kings
),

account_coverage as (
    select
        names.account_id,
        counts.contacts_count,
        counts.total_value,
        coalesce(reach.covered_value, 0) as covered_value,
        counts.key_players_count,
        coalesce(reach.key_players_covered_count, 0) as key_players_covered_count,
        coalesce(counts.kings_count, 0) as kings_count,
        coalesce(reach.kings_covered_count, 0) as kings_covered_count,
        counts.support_balance,
        counts.high_influence_opponents,
        counts.king_attitude,
        counts.member_counts[$thread_strength + 1] as threads,
        greatest(reach.single_value_lost, -shared.largest.negative_loss) as max_value_lost,
        members.member_id as key_person_id,
        case
            when $has_contacts and $has_relationships
                then 100 * coalesce(reach.covered_value, 0) / nullif(counts.total_value, 0)
        end as coverage,
    from step_names as names
    left join account_contacts as counts
        on counts.account_no = names.account_no
    left join account_reach as reach
        on reach.account_no = names.account_no
    left join shared_losses as shared
        on shared.account_no = names.account_no
    left join step_members as members
        on members.member_no = case
            when shared.largest is null or reach.single_value_lost > -shared.largest.negative_loss
                then reach.single_member_no
            when reach.single_value_lost is null or -shared.largest.negative_loss > reach.single_value_lost
                then shared.largest.member_no
            else least(reach.single_member_no, shared.largest.member_no)
        end
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
