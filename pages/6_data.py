"""Data: what is loaded, what is missing for which analysis, the rejects with their reasons,
and loading new exports by upload — with a mapping screen for files in no recognised format.

The uploaded files live in a temporary folder named in ``st.session_state["_upload_dir"]``
(the mapping screen works on that folder, so a test can put files there without the uploader).
"""

import os
import shutil
import tempfile
from pathlib import Path

import streamlit as st

import ui
from kam_core.appdata import backup_summary, backups, database_path, replace_database, restore_backup
from kam_core.errors import KamError
from kam_core.export import to_csv_bytes
from kam_core.ingest.importers import missing_analyses
from kam_core.ingest.importers.common import TABULAR_SUFFIXES
from kam_core.ingest.importers.mapping import (
    NO_SOURCE,
    Mapping,
    MappingError,
    TableMapping,
    defaults_text,
    edited_mapping,
    edited_table,
    needs_mapping,
    parse_defaults,
    preview_mapping,
    propose_mapping,
    propose_table,
    sample_rows,
    save_mapping,
    saved_mappings,
    source_files,
    source_label,
    source_options,
    sql_alias,
)
from kam_core.ingest.inventory import database_inventory
from kam_core.ingest.loader import KIND_WORDS
from kam_core.ingest.schema import LOAD_ORDER, TABLES

UPLOAD_DIR = "_upload_dir"  # session key: the folder with the uploaded files
PROPOSAL = "(proposal)"  # "start from" choice: propose from the files' headers
SQL_CHOICE = "(SQL query)"  # "filled from" choice: one SELECT over the files
PREVIEW_LIMIT = 1000  # rows per table (and rejects) the preview keeps
PREVIEW_SHOWN = 100  # rows per table the preview shows
REPLACE = "_replace_pending"  # session key: the load waiting for confirmation
RESTORE = "_restore_pending"  # session key: the backup waiting for confirmation


def mappings_folder() -> Path:
    """Where saved mappings live: ``$KAM_MAPPINGS`` or ``mappings/`` at the repository root."""
    return Path(os.environ.get("KAM_MAPPINGS") or ui.ROOT / "mappings")


# ---------------------------------------------------------------- uploads


def store_uploads(uploads: list) -> None:
    """Keep the uploaded files in a temporary folder for this session (rewritten when they change)."""
    if not uploads:
        if st.session_state.get("_upload_sig"):  # the user removed the files from the uploader
            drop_uploads()
        return
    sig = tuple((getattr(u, "file_id", None), u.name, u.size) for u in uploads)
    if st.session_state.get("_upload_sig") == sig:
        return
    drop_uploads()
    folder = Path(tempfile.mkdtemp(prefix="kam-upload-"))
    for up in uploads:
        (folder / Path(up.name).name).write_bytes(up.getbuffer())
    st.session_state[UPLOAD_DIR] = str(folder)
    st.session_state["_upload_sig"] = sig


def drop_uploads() -> None:
    """Forget the uploaded files (and delete their folder when this page made it)."""
    if st.session_state.get("_upload_sig") and st.session_state.get(UPLOAD_DIR):
        shutil.rmtree(st.session_state[UPLOAD_DIR], ignore_errors=True)
    for key in (UPLOAD_DIR, "_upload_sig", "_map_forced", "_map_preview", "_map_saved"):
        st.session_state.pop(key, None)


def upload_sources(folder: str) -> list[Path]:
    """The uploaded files (the top level of the folder; the page's work folders are hidden)."""
    path = Path(folder)
    if not path.is_dir():
        return []
    return sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))


def stamp(sources: list[Path]) -> tuple:
    """Changes when an uploaded file changes (the cache key of the scans below)."""
    return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sources)


@st.cache_data(show_spinner=False, max_entries=16)
def scan_files(folder: str, version: tuple) -> list[str]:
    """The files of the upload as the loader sees them (a .zip unpacked)."""
    return [str(p) for p in source_files(upload_sources(folder), Path(folder) / ".kam")]


@st.cache_data(show_spinner=False, max_entries=16)
def scan_needs_mapping(folder: str, version: tuple) -> bool:
    return needs_mapping([Path(p) for p in scan_files(folder, version)])


@st.cache_data(show_spinner="Proposing a mapping from the headers …", max_entries=16)
def scan_proposal(folder: str, version: tuple) -> Mapping:
    return propose_mapping([Path(p) for p in scan_files(folder, version)])


@st.cache_data(show_spinner=False, max_entries=64)
def table_proposal(folder: str, version: tuple, table: str, file: str | None) -> TableMapping:
    files = [Path(p) for p in scan_files(folder, version)]
    if file is not None:
        files = [p for p in files if p.name == file]
    return propose_table(table, files)


@st.cache_data(show_spinner=False, max_entries=256)
def file_headers(path: str, sheet: str | None, mtime: int) -> list[str]:
    return sample_rows(Path(path), n=1, sheet=sheet)[0]


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
                                          keep=kept)
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
            restore_backup(database_path(), chosen, keep=max(ctx.settings.backups_kept, 1))
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
        st.dataframe(rows, hide_index=True, width="stretch")
        labels = {str(b.path): f"{r['replaced']} · {r['accounts']} accounts from {r['from']}"
                  for b, r in zip(kept, rows, strict=True)}
        chosen = st.selectbox("Data to restore", list(labels), format_func=labels.get, key="restore_pick")
        if st.button("Restore the previous data", icon=":material/history:", key="restore"):
            st.session_state[RESTORE] = chosen
            st.rerun()


# ---------------------------------------------------------------- the mapping screen


def reset_mapping_widgets() -> None:
    """Start the screen afresh (another upload or another starting mapping)."""
    for key in list(st.session_state):
        if isinstance(key, str) and key.startswith(("map_w_", "_map_file_")):
            del st.session_state[key]
    st.session_state.pop("_map_preview", None)


def confidence_note(
    conf: float | None, value: str, proposed: str, required: bool, default: str | None
) -> str:
    """The line under a column's choice: how sure the proposal is, or what the user did."""
    if value == NO_SOURCE:
        if default is not None:
            return f"default “{default}”"
        return ":red[required — no source]" if required else ":gray[not mapped]"
    if value != proposed:
        return ":blue[chosen by hand]"
    if conf is None:
        return ":gray[as in the mapping]"
    word = "exact name" if conf >= 1 else "known synonym" if conf >= 0.85 else "guess"
    colour = "green" if conf >= 0.85 else "orange" if conf >= 0.6 else "red"
    return f":{colour}[confidence {conf:.2f} · {word}]"


def table_editor(
    table: str, base: TableMapping, files: list[Path], folder: str, version: tuple
) -> TableMapping:
    """One canonical table: which file (or SQL) fills it, and the source of each column."""
    header = st.empty()
    if base.is_override:
        header.markdown(f"**{table}** ← the recognised CRM export's own {table}, adjusted")
        st.caption("Columns: " + ", ".join(f"{c} ← {source_label(s)}" for c, s in base.columns.items()))
        return edited_table(base)
    names = [p.name for p in files]
    current = SQL_CHOICE if base.sql is not None else base.file
    options = [*names, SQL_CHOICE]
    if current is not None and current not in options:
        options.insert(0, current)  # a glob pattern of a saved mapping
    choice = st.selectbox(
        "Filled from",
        options,
        index=options.index(current) if current in options else 0,
        key=f"map_w_{table}_file",
        help="The uploaded file this table is read from, or one SQL SELECT over the files.",
    )
    tracked = f"_map_file_{table}"
    if st.session_state.get(tracked, current) != choice:  # another file: propose its columns afresh
        for key in [
            k for k in st.session_state if isinstance(k, str) and k.startswith(f"map_w_{table}_col_")
        ]:
            del st.session_state[key]
    st.session_state[tracked] = choice

    defaults_key = f"map_w_{table}_defaults"
    try:
        defaults = parse_defaults(st.session_state.get(defaults_key, defaults_text(base.defaults)), table)
        defaults_error = None
    except MappingError as exc:
        defaults, defaults_error = dict(base.defaults), exc

    if choice == SQL_CHOICE:
        first = sql_alias(names[0]) if names else "file"
        template = f"-- name the canonical columns, e.g. select id as {TABLES[table].column_names[0]}\nselect *\nfrom {first}"
        header.markdown(f"**{table}** ← SQL over the files")
        sql = st.text_area(
            "SQL: one SELECT over the files (each file is a table named after it: "
            "order_details.csv → order_details, all columns text)",
            value=base.sql or template,
            height=220,
            key=f"map_w_{table}_sql",
        )
        tm = edited_table(base, sql=sql, defaults=defaults)
    else:
        header.markdown(f"**{table}** ← {choice}")
        prop = base if choice == current else table_proposal(folder, version, table, choice)
        path = next((p for p in files if p.name == choice), None)
        sheet = prop.sheet if prop.file == choice else None
        headers = file_headers(str(path), sheet, path.stat().st_mtime_ns) if path else []
        if path is None:
            st.caption(f"No uploaded file is called {choice}: the columns keep the mapping's headers.")
        sources: dict[str, str] = {}
        columns = TABLES[table].columns
        for start in range(0, len(columns), 4):
            for cell, col in zip(st.columns(4), columns[start : start + 4], strict=False):
                with cell:
                    proposed = source_label(prop.columns.get(col.name))
                    col_options = source_options(headers, prop.columns.get(col.name))
                    value = st.selectbox(
                        f"{col.name} *" if col.required else col.name,
                        col_options,
                        index=col_options.index(proposed),
                        key=f"map_w_{table}_col_{col.name}",
                        help=f"{'Required. ' if col.required else ''}Expected: "
                        f"{KIND_WORDS.get(col.kind, 'one of ' + ', '.join(col.enum) if col.enum else 'text')}.",
                    )
                    st.caption(
                        confidence_note(
                            prop.confidence.get(col.name),
                            value,
                            proposed,
                            col.required,
                            defaults.get(col.name),
                        )
                    )
                    sources[col.name] = value
        tm = edited_table(prop, file=choice, sources=sources, headers=headers, defaults=defaults)
        used = {h for s in tm.columns.values() for h in ([s] if isinstance(s, str) else s)}
        unused = [h for h in headers if h.strip() and h not in used]
        if unused:
            st.caption("Not used: " + ", ".join(unused))
    with st.expander("Defaults and value maps"):
        st.text_area(
            "Defaults, one `column = value` per line: for blank cells, or a column with no source",
            value=defaults_text(base.defaults),
            key=defaults_key,
            height=90,
        )
        if defaults_error:
            ui.show_error(defaults_error)
        if tm.values:
            st.caption(
                "Value maps kept from the mapping: "
                + ", ".join(f"{c} ({len(v)} values)" for c, v in tm.values.items())
            )
    return tm


def show_preview(current_text: str) -> None:
    """The last preview: rejects with their reasons, then the first rows of each table."""
    preview = st.session_state.get("_map_preview")
    if not preview:
        return
    if preview["toml"] != current_text:
        st.warning("The mapping changed since this preview: preview again.", icon=":material/refresh:")
    if preview.get("error"):
        ui.show_error(KamError(preview["error"]))
        return
    tables, rejects = preview["tables"], preview["rejects"]

    def count(n: int) -> str:
        return f"{n:,}+" if n >= PREVIEW_LIMIT else f"{n:,}"

    st.markdown(
        "**Preview** · "
        + " · ".join(f"{t} {count(len(df))} rows" for t, df in tables.items())
        + f" · **{count(len(rejects))} rejected**"
    )
    if len(rejects):
        st.caption(
            "Rows the load would reject, with the row number as a spreadsheet shows it and the reason."
        )
        shown = rejects.rename(
            columns={"source_file": "file", "row_number": "row", "table_name": "table", "raw_row": "raw row"}
        )[["file", "row", "table", "reason", "raw row"]]
        st.dataframe(shown, hide_index=True, width="stretch", key="map_preview_rejects")
    else:
        st.success("No row would be rejected.")
    if tables:
        for tab, (name, df) in zip(st.tabs(list(tables)), tables.items(), strict=True):
            with tab:
                st.dataframe(
                    df.head(PREVIEW_SHOWN), hide_index=True, width="stretch", key=f"map_preview_{name}"
                )


def mapping_screen(folder: str, sources: list[Path]) -> None:
    version = stamp(sources)
    files = [Path(p) for p in scan_files(folder, version)]
    tabular = [p for p in files if p.suffix.lower() in TABULAR_SUFFIXES]
    st.subheader("Map the columns")
    st.caption(
        "Which file fills which table, and which column of the file fills each column of the "
        "model (* = required). Correct the proposal, preview the result and the rejects, save the "
        "mapping for next time and load with it. The format is described in docs/importing.md."
    )
    saved = saved_mappings(mappings_folder())
    start = st.selectbox(
        "Start from",
        [PROPOSAL, *saved],
        key="map_start",
        format_func=lambda s: (
            "a proposal from the files' headers and sample values"
            if s == PROPOSAL
            else f"the saved mapping {s}"
        ),
    )
    base_id = (folder, version, start, saved[start].stat().st_mtime_ns if start in saved else 0)
    if st.session_state.get("_map_base_id") != base_id:
        reset_mapping_widgets()
        st.session_state["_map_base_id"] = base_id
    base = scan_proposal(folder, version)
    if start in saved:
        try:
            base = Mapping.from_file(saved[start])
        except MappingError as exc:
            ui.show_error(exc)
            st.caption("Starting from the proposal instead.")
    for note in base.notes:
        st.caption(note)

    null_text = st.text_input(
        "Cell texts that mean missing (comma-separated, besides blank)",
        value=", ".join(base.null_values),
        key="map_w_null_values",
        placeholder="NULL, n/a",
    )
    null_values = [v.strip() for v in null_text.split(",") if v.strip()]
    chosen = st.multiselect(
        "Tables to fill",
        LOAD_ORDER,
        default=[t for t in LOAD_ORDER if t in base.tables],
        key="map_w_tables",
        help="Add a table to map another file; accounts is required.",
    )
    edited: list[TableMapping] = []
    for table in chosen:
        with st.container(border=True):
            base_tm = base.tables.get(table) or table_proposal(folder, version, table, None)
            edited.append(table_editor(table, base_tm, tabular, folder, version))
    if "accounts" not in chosen:
        st.warning("Without an accounts table nothing can be built: add accounts.", icon=":material/warning:")
    try:
        mapping = edited_mapping(base, edited, null_values)
        text = mapping.to_toml()
    except MappingError as exc:
        ui.show_error(exc)
        mapping, text = None, ""

    b1, b2, b3 = st.columns(3)
    if b1.button("Preview", key="map_preview", icon=":material/preview:", disabled=mapping is None):
        with st.spinner("Previewing with the real loader …"):
            try:
                tables, rejects = preview_mapping(mapping, sources, ctx.settings, limit=PREVIEW_LIMIT)
                st.session_state["_map_preview"] = {"toml": text, "tables": tables, "rejects": rejects}
            except KamError as exc:
                st.session_state["_map_preview"] = {"toml": text, "error": str(exc)}
    b2.download_button(
        "Download mapping.toml",
        text,
        "mapping.toml",
        "application/toml",
        key="map_download",
        on_click="ignore",
        icon=":material/download:",
        disabled=mapping is None,
    )
    load_clicked = b3.button(
        "Load with this mapping",
        type="primary",
        key="map_load",
        icon=":material/upload:",
        disabled=mapping is None,
    )
    show_preview(text)

    st.markdown("**Save the mapping for next time**")
    s1, s2 = st.columns([2, 1])
    name = s1.text_input("Name (letters, digits, - and _)", key="map_name", placeholder="my-crm")
    overwrite = s2.checkbox("Overwrite a saved mapping of that name", key="map_overwrite")
    if st.button("Save mapping", key="map_save", icon=":material/save:", disabled=mapping is None):
        try:
            path = save_mapping(mapping, mappings_folder(), name, overwrite=overwrite)
            st.session_state["_map_saved"] = str(path)
            st.success(f"Saved as {path}.")
        except (MappingError, OSError) as exc:
            ui.show_error(exc)
    saved_path = Path(st.session_state["_map_saved"]) if st.session_state.get("_map_saved") else None
    if saved_path is not None and saved_path.is_file() and mapping is not None:
        try:
            same = Mapping.from_file(saved_path) == mapping
        except MappingError:
            same = False
        if not same:
            saved_path = None
    else:
        saved_path = None
    st.caption(
        f"“Load with this mapping” uses {saved_path}."
        if saved_path
        else "Not saved as it is: “Load with this mapping” uses the mapping as shown."
    )

    if load_clicked and mapping is not None:
        if saved_path is None:
            work = Path(folder) / ".kam"
            work.mkdir(exist_ok=True)
            saved_path = work / "mapping.toml"
            saved_path.write_text(text, encoding="utf-8")
        rebuild(sources, saved_path)


# ---------------------------------------------------------------- the page

ctx = ui.setup_page(
    "Data", "🗄️", "What the dashboard is computed from — and every row it could not use, with the reason."
)
inv = database_inventory(ctx.con, sample=100_000)

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
    f"in {ui.md(inv.info.get('load_seconds', '–'))} s · currency {ui.md(ctx.settings.currency)}"
)

left, right = st.columns([1, 2])
with left:
    st.subheader("Tables")
    rows = [{"table": t, "rows": n} for t, n in inv.table_rows.items()]
    st.dataframe(rows, hide_index=True, width="stretch")
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
st.dataframe(inv.files, hide_index=True, width="stretch")

st.subheader(f"Rejected rows ({inv.rejects:,})")
if inv.rejects:
    st.caption(
        "Each row that could not be loaded, with the file, the row number as a spreadsheet "
        "shows it, the raw row and the reason."
    )
    st.dataframe(inv.reject_sample, hide_index=True, width="stretch")
    st.download_button(
        "Download rejects (CSV)",
        to_csv_bytes(inv.reject_sample),
        "rejects.csv",
        "text/csv",
        icon=":material/download:",
    )
else:
    st.success("Every input row was loaded.")
if inv.warnings:
    with st.expander(f"Warnings ({inv.warnings:,}): rows kept, but a reference does not resolve"):
        warnings = ctx.con.execute(
            "select source_file as file, row_number as row, message from warnings "
            "order by source_file, row_number limit 10000"
        ).df()
        st.dataframe(warnings, hide_index=True, width="stretch")

st.subheader("Load new exports")
st.caption(
    "Upload a .zip of an export folder or several files named after their tables "
    "(accounts.csv, contacts.xlsx …), a CRM export (Salesforce, HubSpot, Dynamics 365), or any "
    "other files and map their columns below. The database is rebuilt with the same loader; the "
    "current one stays in use until the new one is complete, and is kept as a backup you can restore."
)
uploads = st.file_uploader(
    "Export files",
    accept_multiple_files=True,
    type=["csv", "txt", "tsv", "xlsx", "xlsm", "parquet", "zip"],
    key="upload",
    help=f"At most {st.get_option('server.maxUploadSize'):,} MB per file (server.maxUploadSize in "
    ".streamlit/config.toml; larger exports load with python -m kam_core load).",
)
store_uploads(uploads)
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
        mapping_screen(upload_dir, uploaded)
if st.session_state.get("_load_report"):
    with st.expander("Last load", expanded=True):
        st.code("\n".join(st.session_state["_load_report"]), language=None)
previous_data()
if st.session_state.get(REPLACE):
    replace_dialog()
elif st.session_state.get(RESTORE):
    restore_dialog()
