"""Reviews (mentors and management): the review cadence at a glance — per mentor, which key
accounts are due, overdue or never reviewed, each with a link straight into its review form."""

import review_ui
import ui

ctx = ui.setup_page("Reviews", "📅", "Every key account's plan is reviewed by its mentor every few months: "
                    "which reviews are due, overdue or missing.")
accounts = ui.account_table(ctx)
filters = ui.shared_filters(accounts)
view, ids = ui.filtered_view(accounts, filters)
if view.empty:
    ui.empty_state("No account matches the filters.")
else:
    review_ui.cadence(ctx, view)
