"""Data: what is loaded, what is missing for which analysis, the rejects with their reasons,
and loading new exports by upload — with a mapping screen for files in no recognised format
(the upload and mapping screen live in ``mapping_ui``; this page stays thin).
"""

from collections.abc import Callable
from functools import partial
from pathlib import Path

import pandas as pd
import streamlit as st

import ui
import workbench_ui
from kam_core.access import Action
from kam_core.appdata import backup_summary, backups, database_path, replace_database, restore_backup
from kam_core.errors import KamError
from kam_core.ingest.importers import missing_analyses
from kam_core.ingest.inventory import all_rejects_csv, all_warnings_csv, database_inventory
from mapping_ui import UPLOAD_DIR, mapping_screen, scan_needs_mapping, stamp, store_uploads, upload_sources

REPLACE = "_replace_pending"  # session key: the load waiting for confirmation
RESTORE = "_restore_pending"  # session key: the backup waiting for confirmation


def rebuild(sources: list[Path], mapping_path: Path | None = None) -> None:
    """Ask to replace all data with the sources: the dialog below loads on confirmation."""
    st.session_state[REPLACE] = {"sources": [str(p) for p in sources],
                                 "mapping": str(mapping_path) if mapping_path else None}
    st.rerun()


def _cancel(key: str) -> None:
    st.session_state.pop(key, None)


def current_data() -> str:
    """The data in force, in words: accounts, when and from what it was loaded."""
    info = backup_summary(database_path())
    return (f"{ui.md(info.get('accounts', '–'))} accounts, loaded {ui.md(info.get('loaded_at', '–'))} "
            f"from {ui.md(info.get('sources', '–'))}")


@st.dialog("Replace all data?", width="medium", on_dismiss=lambda: _cancel(REPLACE))
def replace_dialog() -> None:
    pending = st.session_state[REPLACE]
    sources = [Path(p) for p in pending["sources"]]
    kept = ctx.settings.backups_kept
    st.markdown(f"Every page will show the data of {', '.join(ui.md(p.name) for p in sources)} instead of the "
                f"current data ({current_data()}).")
    st.caption(
        f"The current database is kept as a backup and can be restored on this page (the last {kept} are kept; "
        "setting backups_kept)." if kept else
        "No backup is kept (setting backups_kept = 0): the current data cannot be restored afterwards."
    )
    if pending.get("error"):
        ui.show_error(KamError(pending["error"]))
        st.caption("The previous database is unchanged.")
    c1, c2 = st.columns(2)
    if c1.button("Replace all data", type="primary", icon=":material/upload:", key="replace_confirm",
                 disabled=bool(pending.get("error"))):
        with st.spinner("Loading …"):
            try:
                report = replace_database(sources, database_path(), ctx.settings, mapping=pending["mapping"],
                                          keep=kept, actor=ui.current_actor())
            except KamError as exc:
                pending["error"] = str(exc)
                if pending["mapping"] is None:
                    st.session_state["_map_forced"] = True  # open the mapping screen to fix it
                st.rerun()
        st.session_state.pop(REPLACE, None)
        st.cache_data.clear()
        st.session_state["_load_report"] = report.lines()
        st.rerun()
    if c2.button("Close" if pending.get("error") else "Cancel", key="replace_cancel"):
        st.session_state.pop(REPLACE, None)
        st.rerun()


@st.dialog("Restore the previous data?", width="medium", on_dismiss=lambda: _cancel(RESTORE))
def restore_dialog() -> None:
    chosen = Path(st.session_state[RESTORE])
    info = backup_summary(chosen)
    st.markdown(
        f"Every page will show the previous data again ({ui.md(info.get('accounts', '–'))} accounts, loaded "
        f"{ui.md(info.get('loaded_at', '–'))} from {ui.md(info.get('sources', '–'))}) instead of the current "
        f"data ({current_data()})."
    )
    st.caption("The current data is kept as a backup in turn, so this can be undone the same way.")
    c1, c2 = st.columns(2)
    if c1.button("Restore", type="primary", icon=":material/history:", key="restore_confirm"):
        try:
            restore_backup(database_path(), chosen, keep=max(ctx.settings.backups_kept, 1), actor=ui.current_actor())
        except (KamError, OSError) as exc:
            ui.show_error(exc)
        else:
            st.session_state.pop(RESTORE, None)
            st.cache_data.clear()
            st.session_state["_load_report"] = [f"Restored the data loaded {info.get('loaded_at', '–')} "
                                                f"from {info.get('sources', '–')}."]
            st.rerun()
    if c2.button("Cancel", key="restore_cancel"):
        st.session_state.pop(RESTORE, None)
        st.rerun()


def previous_data() -> None:
    """The backups kept by earlier replacements, and restoring the newest (or a chosen) one."""
    kept = backups(database_path())
    if not kept:
        return
    with st.expander(f"Previous data ({len(kept)} kept)", icon=":material/history:"):
        rows = []
        for b in kept:
            info = backup_summary(b)
            rows.append({"replaced": b.replaced_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                         "accounts": info.get("accounts", "–"), "loaded": info.get("loaded_at", "–"),
                         "from": info.get("sources", "–"), "MB": round(b.size_bytes / 2**20, 1)})
        ui.dataframe(rows, hide_index=True, width="stretch")
        labels = {str(b.path): f"{r['replaced']} · {r['accounts']} accounts from {r['from']}"
                  for b, r in zip(kept, rows, strict=True)}
        chosen = st.selectbox("Data to restore", list(labels), format_func=labels.get, key="restore_pick")
        if st.button("Restore the previous data", icon=":material/history:", key="restore",
                     disabled=not ui.permitted(Action.LOAD_DATA)):
            st.session_state[RESTORE] = chosen
            st.rerun()


# ---------------------------------------------------------------- the page

ctx = ui.setup_page(
    "Data", "🗄️", "What the dashboard is computed from — and every row it could not use, with the reason."
)
inv = database_inventory(ctx.con, sample=10_000)
ui.presentation_toggle()

c1, c2, c3, c4 = st.columns(4)
c1.metric("Accounts", f"{inv.table_rows.get('accounts', 0):,}")
c2.metric("Rows loaded", f"{sum(inv.table_rows.values()):,}")
c3.metric("Rows rejected", f"{inv.rejects:,}")
c4.metric(
    "As of",
    ctx.as_of.isoformat(),
    help="The date every metric is computed for: the latest date in "
    "the data (capped at today) unless the setting as_of says otherwise.",
)
st.caption(
    f"Loaded {ui.md(inv.info.get('loaded_at', '–'))} from {ui.md(inv.info.get('sources', '–'))} "
    f"in {ui.md(inv.info.get('load_seconds', '–'))} s · amounts in {ui.md(ctx.currency)}"
)

left, right = st.columns([1, 2])
with left:
    st.subheader("Tables")
    rows = pd.DataFrame([{"table": t, "rows": n} for t, n in inv.table_rows.items()], columns=["table", "rows"])
    ui.table(rows, {"table": ui.Col("table", width=150), "rows": ui.Col("rows", "count", width=100)}, ctx.currency,
             key="data_tables")
    if inv.missing_tables:
        st.caption("Not loaded: " + ", ".join(inv.missing_tables) + ".")
with right:
    st.subheader("Missing for an analysis")
    missing = missing_analyses(ctx.con)
    if missing:
        st.caption("What the loaded files leave out, and which file would fill it.")
        st.markdown("\n".join(f"- {ui.md(m)}" for m in missing))
    else:
        st.success("Every analysis has the data it needs.")

st.subheader("Files")
ui.table(inv.files, {"file": ui.Col("file", width=150, pinned=True), "table": ui.Col("table", width=115),
                     "rows_read": ui.Col("read", "count", width=75), "rows_loaded": ui.Col("loaded", "count", width=75),
                     "rows_rejected": ui.Col("rejected", "count", width=75),
                     "rejected_share": ui.Col("rejected %", "pct", width=80,
                                              help="The share of the file's rows rejected (Rejected rows says why)"),
                     "problem": ui.Col("problem", "wrap", width=150), "notes": ui.Col("notes", "wrap", width=150)},
         ctx.currency, key="data_files")


def problems(kinds: pd.DataFrame, text: str, sample: pd.DataFrame, total: int, noun: str, intro: str,
             download: Callable[[], bytes]) -> None:
    """The rejects or the warnings: by kind of problem, the rows themselves (a sample, said so
    when cut), and a download of every one (written on the click, from the data this page showed)."""
    ui.table(kinds, {"file": ui.Col("file", width=150), "table": ui.Col("table", width=115),
                     "rows": ui.Col("rows", "count", width=75), "first_row": ui.Col("first row", "count", width=75),
                     text: ui.Col(text, "wrap", width=560)},
             ctx.currency, key=f"data_{noun}_kinds")
    shown = len(sample)
    st.caption(intro + (f" — the first {shown:,} of {total:,}; the download has every one." if shown < total else "."))
    ui.dataframe(sample, hide_index=True, width="stretch")
    st.download_button(f"Download all {total:,} {noun}s (CSV)" if total != 1 else f"Download the {noun} (CSV)",
                       download, f"{noun}s.csv", "text/csv", icon=":material/download:", on_click="ignore",
                       key=f"dl_{noun}s")


st.subheader(f"Rejected rows ({inv.rejects:,})")
if inv.rejects:
    st.caption(
        "Why, by kind of problem: each kind with its number of rows, the first row that has it "
        "and that row's reason. Fix the kind in the export (or its column mapping) and load again."
    )
    problems(inv.reject_groups, "reason", inv.reject_sample, inv.rejects, "reject",
             "Each row that could not be loaded, with the file, the row number as a spreadsheet shows it, "
             "the reason and the raw row", partial(all_rejects_csv, ctx.con))
else:
    st.success("Every input row was loaded.")
if inv.warnings:
    with st.expander(f"Warnings ({inv.warnings:,}): rows kept, with something to check (a reference that "
                     "does not resolve, cells read as blank, characters removed)"):
        st.caption("By kind: each with its number of rows, the first row that has it and that row's message.")
        problems(inv.warning_groups, "message", inv.warning_sample, inv.warnings, "warning", "Each warning",
                 partial(all_warnings_csv, ctx.con))

st.subheader("Load new exports")
st.caption(
    "Upload a .zip of an export folder or several files named after their tables "
    "(accounts.csv, contacts.xlsx …), a CRM export (Salesforce, HubSpot, Dynamics 365), or any "
    "other files and map their columns below. The database is rebuilt with the same loader; the "
    "current one stays in use until the new one is complete, and is kept as a backup you can restore."
)
may_load = ui.permitted(Action.LOAD_DATA)  # else: which role loading needs
uploads = st.file_uploader(
    "Export files",
    accept_multiple_files=True,
    type=["csv", "txt", "tsv", "xlsx", "xlsm", "parquet", "zip"],
    key="upload",
    disabled=not may_load,
    help=f"At most {st.get_option('server.maxUploadSize'):,} MB per file (server.maxUploadSize in "
    ".streamlit/config.toml; larger exports load with python -m kam_core load).",
)
store_uploads(uploads, ctx.settings)
upload_dir = st.session_state.get(UPLOAD_DIR)
uploaded = upload_sources(upload_dir) if upload_dir else []
if uploaded:
    st.caption("Uploaded: " + ", ".join(ui.md(p.name) for p in uploaded))
    unrecognised = scan_needs_mapping(upload_dir, stamp(uploaded))
    if unrecognised:
        st.info(
            "These files are in no recognised format (no known CRM export, no accounts file with "
            "account_id): map their columns below.",
            icon=":material/info:",
        )
    elif st.button("Rebuild the database", type="primary", icon=":material/upload:", key="rebuild"):
        rebuild(uploaded)
    if (
        unrecognised
        or st.session_state.get("_map_forced")
        or st.toggle("Map the columns myself", key="map_open")
    ):
        mapping_screen(upload_dir, uploaded, ctx.settings, rebuild)
if st.session_state.get("_load_report"):
    with st.expander("Last load", expanded=True):
        st.code("\n".join(st.session_state["_load_report"]), language=None)
previous_data()
workbench_ui.orphans(ctx)
workbench_ui.excel_round_trip(ctx)
if st.session_state.get(REPLACE):
    replace_dialog()
elif st.session_state.get(RESTORE):
    restore_dialog()
