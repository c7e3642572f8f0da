-- Step "health": the mentor's one-glance view per account (spec §3.4, health v2).
-- Inputs: accounts, contacts (opponent kings' names), team (the key person's name) and the
-- steps coverage, growth, plan, activity.
--
-- Status and reasons never contradict each other: a condition that makes an account red
-- or amber is a reason, and every reason is such a condition (green ⇔ no reasons). Other
-- observations are notes.
with

opponent_kings as (
    select
        account_id,
        count(*) as kings_count,
        string_agg(name, ', ' order by name) as king_names,
    from contacts
    where piece = 'king'
        and attitude = 'opponent'
        and coalesce(is_active, true)
    group by account_id
),

inputs as (
    select
        accounts.account_id,
        -- coverage (§3.2)
        coverage.coverage,
        coverage.contacts_count,
        coverage.king_covered,
        coverage.king_attitude,
        coverage.threads,
        coverage.single_threaded,
        coverage.key_person_dependency,
        coalesce(team.name, coverage.key_person_id) as key_person_name,
        coverage.high_influence_opponents,
        opponent_kings.kings_count as opponent_kings_count,
        opponent_kings.king_names as opponent_king_names,
        -- growth (§3.3)
        growth.ttm_revenue,
        growth.prior_ttm_revenue,
        growth.revenue_growth,
        growth.gross_margin_pct,
        growth.has_revenue_rows,
        -- plan and activity; a review after as_of cannot happen (never negative)
        case when plan.days_since_review < 0 then 0 else plan.days_since_review end
            as days_since_review,
        plan.review_overdue,
        plan.overdue_actions,
        plan.latest_rating,
        plan.latest_rating_date,
        date_diff('day', activity.last_activity_date, $as_of) as days_since_activity,
    from accounts
    left join step_coverage as coverage
        on coverage.account_id = accounts.account_id
    left join step_growth as growth
        on growth.account_id = accounts.account_id
    left join step_plan as plan
        on plan.account_id = accounts.account_id
    left join step_activity as activity
        on activity.account_id = accounts.account_id
    left join opponent_kings
        on opponent_kings.account_id = accounts.account_id
    left join team
        on team.member_id = coverage.key_person_id
),

components as (
    select
        *,
        coverage as coverage_score,
        case
            -- a new account: nothing before, revenue now
            when round(prior_ttm_revenue, 6) <= 0 and round(ttm_revenue, 6) > 0 then 100.0
            when revenue_growth is not null
                then greatest(0.0, least(100.0, 50 + $growth_slope * revenue_growth))
            when has_revenue_rows then 50.0
        end as growth_score,
        case
            when gross_margin_pct is not null
                then greatest(0.0, least(100.0, 100 * gross_margin_pct / $target_margin))
        end as margin_score,
        -- the review's part of the plan component, before overdue actions
        case
            when not $has_reviews then null
            when days_since_review is null then 0.0
            when days_since_review <= $review_cadence_days then 100.0
            when days_since_review >= $review_zero_days then 0.0
            else 100.0 * ($review_zero_days - days_since_review)
                / ($review_zero_days - $review_cadence_days)
        end as review_score,
        -- (greatest() would skip a null review score)
        case
            when review_score is not null
                then greatest(review_score - $overdue_action_penalty * coalesce(overdue_actions, 0), 0)
        end as plan_score,
        case
            when not $has_activities then null
            when days_since_activity is null then 0.0
            else 100 * pow(0.5, greatest(days_since_activity, 0) / $activity_half_life_days)
        end as activity_score,
    from inputs
),

weighted as (
    select
        *,
        (
            coalesce($weight_coverage * coverage_score, 0)
            + coalesce($weight_growth * growth_score, 0)
            + coalesce($weight_margin * margin_score, 0)
            + coalesce($weight_plan * plan_score, 0)
            + coalesce($weight_activity * activity_score, 0)
        ) / nullif(
            (case when coverage_score is not null then $weight_coverage else 0 end)
            + (case when growth_score is not null then $weight_growth else 0 end)
            + (case when margin_score is not null then $weight_margin else 0 end)
            + (case when plan_score is not null then $weight_plan else 0 end)
            + (case when activity_score is not null then $weight_activity else 0 end),
            0
        ) as health_raw,
    from components
),

-- every value is rounded to 6 decimals before it meets a threshold (§3.1)
rounded as (
    select
        * exclude (coverage_score, growth_score, margin_score, plan_score, activity_score),
        round(coverage_score, 6) as coverage_score,
        round(growth_score, 6) as growth_score,
        round(margin_score, 6) as margin_score,
        round(plan_score, 6) as plan_score,
        round(review_score, 6) as review_part,
        round(activity_score, 6) as activity_score,
        round(health_raw, 6) as health,
    from weighted
),

-- the conditions of §3.4, each true or false (never null)
conditions as (
    select
        *,
        coalesce(health < $status_amber, false) as is_health_red,
        coalesce(health < $status_green, false) as is_health_amber,
        coalesce(king_attitude = 'opponent', false) as is_king_opponent,
        coalesce(latest_rating = 'off_track', false) as is_off_track,
        coalesce(coverage_score < $reason_below, false) as is_coverage_low,
        coalesce(growth_score < $reason_below, false) as is_growth_low,
        coalesce(margin_score < $reason_below, false) as is_margin_low,
        coalesce(plan_score < $reason_below, false) as is_plan_low,
        coalesce(activity_score < $reason_below, false) as is_activity_low,
        coalesce(king_covered = false, false) as is_king_uncovered,
        coalesce(single_threaded and contacts_count > 0, false) as is_single_threaded,
        coalesce(round(key_person_dependency, 6) >= $key_person_share, false)
            as is_key_person_dependent,
        coalesce(overdue_actions > 0, false) as has_overdue_actions,
        coalesce(latest_rating = 'at_risk', false) as is_at_risk,
        -- health in a reason as the pages show it (rounded); with one decimal (cut, not rounded)
        -- where rounding would reach the threshold it is below ("69.6 is below 70", not "70")
        case
            when (health < $status_amber and round(health) >= $status_amber)
                or (health < $status_green and round(health) >= $status_green)
                then format('{:.1f}', floor(health * 10) / 10)
            else round(health)::bigint::varchar
        end as health_text,
    from rounded
),

statuses as (
    select
        *,
        case
            when health is null then null
            when is_health_red or is_king_opponent or is_off_track then 'red'
            when is_health_amber or is_coverage_low or is_growth_low or is_margin_low
                or is_plan_low or is_activity_low or is_king_uncovered or is_single_threaded
                or is_key_person_dependent or has_overdue_actions or is_at_risk
                then 'amber'
            else 'green'
        end as status,
    from conditions
),

-- (texts joined with ||, not format(): the same text, null when a part is null, 6 ms less
-- at 10,000 accounts)
texts as (
    select
        *,
        list_filter(
            [
                -- red
                case
                    when is_health_red
                        then 'health ' || health_text || ' of 100 is below ' || $status_amber_text
                    when is_health_amber
                        then 'health ' || health_text || ' of 100 is below ' || $status_green_text
                end,
                case
                    when is_king_opponent and opponent_kings_count > 1
                        then 'the kings (' || opponent_king_names || ') are opponents'
                    when is_king_opponent and opponent_king_names is not null
                        then 'the king (' || opponent_king_names || ') is an opponent'
                    when is_king_opponent then 'the king is an opponent'
                end,
                case
                    when is_off_track
                        then 'the mentor rated the account off track on '
                            || strftime(latest_rating_date, '%Y-%m-%d')
                end,
                -- amber: components below reason_below
                case
                    when is_coverage_low
                        then 'coverage is only ' || round(coverage_score)::bigint || ' of 100'
                end,
                case
                    when is_growth_low and revenue_growth < 0
                        then 'revenue fell ' || round(-100 * revenue_growth)::bigint || ' % on last year'
                    when is_growth_low and revenue_growth >= 0
                        then 'revenue grew only ' || round(100 * revenue_growth)::bigint || ' % on last year'
                    when is_growth_low
                        then 'no revenue growth to measure: no revenue in the last 24 months'
                end,
                case
                    when is_margin_low
                        then 'gross margin ' || round(100 * gross_margin_pct)::bigint || ' % against a '
                            || $target_margin_text || ' % target'
                end,
                case
                    when is_plan_low and days_since_review is null and review_part is not null
                        then 'the account plan has never been reviewed'
                    when is_plan_low and review_part < $reason_below
                        then 'no review for ' || days_since_review || ' days'
                    when is_plan_low
                        then 'plan score ' || round(plan_score)::bigint || ' of 100 after overdue actions'
                end,
                case
                    when is_activity_low and days_since_activity is null then 'no activity recorded'
                    when is_activity_low
                        then 'no activity for ' || days_since_activity || ' days'
                end,
                -- amber: relationships
                case
                    when is_king_uncovered and contacts_count = 0
                        then 'no active contacts recorded, so no king identified'
                    when is_king_uncovered and king_attitude is null then 'no king identified'
                    when is_king_uncovered then 'the king is not covered'
                end,
                case
                    when is_key_person_dependent
                        then 'coverage depends ' || round(100 * key_person_dependency)::bigint || ' % on one person ('
                            || key_person_name || ')'
                end,
                case
                    when is_single_threaded and threads = 0
                        then 'no team member has a strong relationship (single-threaded)'
                    when is_single_threaded
                        then 'single-threaded: only one team member has a strong relationship'
                end,
                -- amber: the plan
                case
                    when overdue_actions = 1 then '1 plan action overdue'
                    when has_overdue_actions
                        then overdue_actions || ' plan actions overdue'
                end,
                case
                    when is_at_risk
                        then 'the mentor rated the account at risk on '
                            || strftime(latest_rating_date, '%Y-%m-%d')
                end,
            ],
            lambda reason: reason is not null
        ) as reasons,
        -- observations that are not conditions of the status
        list_filter(
            [
                case
                    when high_influence_opponents = 1 then '1 high-influence opponent'
                    when high_influence_opponents > 1
                        then high_influence_opponents || ' high-influence opponents'
                end,
                case
                    when review_overdue and days_since_review is not null and not is_plan_low
                        then 'review overdue: last one ' || days_since_review || ' days ago'
                    when not review_overdue and days_since_review = $review_cadence_days
                        then 'next review due today'
                    when not review_overdue
                        and days_since_review > $review_cadence_days - $review_soon_days
                        then 'next review due in ' || ($review_cadence_days - days_since_review) || ' days'
                end,
            ],
            lambda note: note is not null
        ) as notes,
    from statuses
),

final as (
    select
        account_id,
        coverage_score,
        growth_score,
        margin_score,
        plan_score,
        activity_score,
        health,
        status,
        reasons,
        notes,
        overdue_actions,
        latest_rating,
        latest_rating_date,
    from texts
)

select * from final
