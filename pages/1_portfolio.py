import ui

ui.setup_page("1_portfolio")
