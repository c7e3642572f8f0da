"""Definitions: every number the app shows, in words (docs/metrics.md)."""

from pathlib import Path

import streamlit as st

import ui

ui.setup_page("Definitions", "📖")
ui.presentation_toggle()
doc = Path(__file__).resolve().parent.parent / "docs" / "metrics.md"
if doc.is_file():
    st.markdown(doc.read_text(encoding="utf-8"))
else:
    ui.empty_state("docs/metrics.md is missing from this installation.")
