import ui

ui.setup_page("2_account")
