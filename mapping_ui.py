"""The Data page's upload and mapping screen (Streamlit; the page stays thin).

Uploads live in a temporary folder per session (``kam-upload-<pid>-…``; its name in
``st.session_state["_upload_dir"]``, so a test can put files there without the uploader). A zip
is unpacked once, when it is uploaded, within the settings' limits; the folder is removed when
the files are removed, when the session ends (a finaliser on a session-state object) or, if
the server died, by the next load's sweep.

The mapping screen proposes a mapping from the files' headers and sample values, lets the user
correct which file and which column fill each table, previews the result with the real loader
(rejects with their reasons), saves the mapping and loads with it (through the page's own
``rebuild``, passed in as ``on_load``).
"""

from __future__ import annotations

import os
import shutil
import weakref
from collections.abc import Callable
from pathlib import Path

import streamlit as st

import ui
from kam_core.errors import KamError, LoadError
from kam_core.ingest.checks import KIND_WORDS
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
from kam_core.ingest.schema import LOAD_ORDER, TABLES
from kam_core.ingest.sources import ZipLimits, unpack_zip
from kam_core.ingest.workspace import work_dir
from kam_core.settings import Settings

UPLOAD_DIR = "_upload_dir"  # session key: the folder with the uploaded files
PROPOSAL = "(proposal)"  # "start from" choice: propose from the files' headers
SQL_CHOICE = "(SQL query)"  # "filled from" choice: one SELECT over the files
PREVIEW_LIMIT = 1000  # rows per table (and rejects) the preview keeps
PREVIEW_SHOWN = 100  # rows per table the preview shows


def mappings_folder() -> Path:
    """Where saved mappings live: ``$KAM_MAPPINGS`` or ``mappings/`` at the repository root."""
    return Path(os.environ.get("KAM_MAPPINGS") or ui.ROOT / "mappings")



# ---------------------------------------------------------------- uploads


class UploadFolder:
    """Owns an upload folder: removes it when the session's state lets go of this object (the
    session ended) or when the process exits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(path), True)

    def remove(self) -> None:
        self._finalizer()


def store_uploads(uploads: list, settings: Settings | None = None) -> None:
    """Keep the uploaded files in a temporary folder for this session (rewritten when they change).

    A zip is unpacked right away (once, within the settings' limits) into a folder of its name;
    a zip refused (a zip bomb, a damaged archive) is not kept and its message is shown.
    """
    if not uploads:
        if st.session_state.get("_upload_sig"):  # the user removed the files from the uploader
            drop_uploads()
        return
    sig = tuple((getattr(u, "file_id", None), u.name, u.size) for u in uploads)
    if st.session_state.get("_upload_sig") == sig:
        for message in st.session_state.get("_upload_errors", []):
            ui.show_error(KamError(message))
        return
    drop_uploads()
    owner = UploadFolder(work_dir("upload"))
    errors = []
    for up in uploads:
        path = owner.path / Path(up.name).name
        path.write_bytes(up.getbuffer())
        if path.suffix.lower() == ".zip":
            try:
                unpack_zip(path, owner.path / path.stem, ZipLimits.from_settings(settings))
            except LoadError as exc:
                errors.append(str(exc))
            path.unlink()
    st.session_state["_upload_owner"] = owner
    st.session_state[UPLOAD_DIR] = str(owner.path)
    st.session_state["_upload_sig"] = sig
    st.session_state["_upload_errors"] = errors
    for message in errors:
        ui.show_error(KamError(message))


def drop_uploads() -> None:
    """Forget the uploaded files (and delete their folder when this page made it)."""
    owner = st.session_state.get("_upload_owner")
    if isinstance(owner, UploadFolder):
        owner.remove()
    for key in (UPLOAD_DIR, "_upload_sig", "_upload_owner", "_upload_errors", "_map_forced", "_map_preview",
                "_map_saved"):
        st.session_state.pop(key, None)


def upload_sources(folder: str) -> list[Path]:
    """The uploaded files and unpacked zips (the top level of the folder; work folders hidden)."""
    path = Path(folder)
    if not path.is_dir():
        return []
    return sorted(p for p in path.iterdir() if not p.name.startswith("."))


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



# ---------------------------------------------------------------- the mapping screen


def reset_mapping_widgets() -> None:
    """Start the screen afresh (another upload or another starting mapping)."""
    for key in list(st.session_state):
        if isinstance(key, str) and key.startswith(("map_w_", "_map_file_")):
            del st.session_state[key]
    st.session_state.pop("_map_preview", None)


def confidence_note(
    conf: float | None, value: str, proposed: str, required: bool, default: str | None,
    formula: str | None = None,
) -> str:
    """The line under a column's choice: how sure the proposal is, or what the user did."""
    if value == NO_SOURCE and formula:
        return f":blue[formula: {ui.md(formula)}]"
    if value == NO_SOURCE:
        if default is not None:
            return f"default “{ui.md(default)}”"
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
        st.caption("Columns: " + ", ".join(f"{c} ← {ui.md(source_label(s))}" for c, s in base.columns.items()))
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
        header.markdown(f"**{table}** ← {ui.md(choice)}")
        prop = base if choice == current else table_proposal(folder, version, table, choice)
        tm_formulas = prop.formulas
        kept = declarative_summary(prop)
        if kept:
            st.caption("Kept from the mapping (edit them in the file): " + "; ".join(ui.md(k) for k in kept))
        path = next((p for p in files if p.name == choice), None)
        sheet = prop.sheet if prop.file == choice else None
        headers = file_headers(str(path), sheet, path.stat().st_mtime_ns) if path else []
        if path is None:
            st.caption(f"No uploaded file is called {ui.md(choice)}: the columns keep the mapping's headers.")
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
                            tm_formulas.get(col.name),
                        )
                    )
                    sources[col.name] = value
        tm = edited_table(prop, file=choice, sources=sources, headers=headers, defaults=defaults)
        used = {h for s in tm.columns.values() for h in ([s] if isinstance(s, str) else s)}
        unused = [h for h in headers if h.strip() and h not in used]
        if unused:
            st.caption("Not used: " + ", ".join(ui.md(h) for h in unused))
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
                + ", ".join(f"{ui.md(c)} ({len(v)} values)" for c, v in tm.values.items())
            )
    return tm


def declarative_summary(tm: TableMapping) -> list[str]:
    """The declarative keys of a table in words, for the screen (they are edited in the file)."""
    out = []
    if tm.group_by:
        combine = ", ".join(f"{c} {how}" for c, how in tm.aggregate.items())
        out.append(f"one row per {', '.join(tm.group_by)}" + (f" ({combine})" if combine else ""))
    for alias, lk in tm.lookups.items():
        on = ", ".join(f"{a} = {b}" for a, b in lk.on.items())
        out.append(f"lookup {alias} in {lk.file} by {on}")
    for header, values in tm.where.items():
        out.append(f"only rows whose {header} is {' or '.join(values)}")
    for header, values in tm.where_not.items():
        out.append(f"without rows whose {header} is {' or '.join(values)}")
    out += [f"{c} = {f}" for c, f in tm.formulas.items()]
    return out


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
    for problem in preview.get("problems", []):  # what the real load would call FATAL or FAILED, first
        st.error(ui.md(problem), icon=":material/error:")

    def count(n: int) -> str:
        return f"{n:,}+" if n >= PREVIEW_LIMIT else f"{n:,}"

    st.markdown(
        "**Preview** · "
        + " · ".join(f"{t} {count(len(df))} rows" for t, df in tables.items())
        + f" · **{count(len(rejects))} rejected**"
        + (f" · **{len(preview.get('problems', []))} not loaded** (above)" if preview.get("problems") else "")
    )
    if len(rejects):
        st.caption(
            "Rows the load would reject, with the row number as a spreadsheet shows it and the reason."
        )
        shown = rejects.rename(
            columns={"source_file": "file", "row_number": "row", "table_name": "table", "raw_row": "raw row"}
        )[["file", "row", "table", "reason", "raw row"]]
        ui.dataframe(shown, hide_index=True, width="stretch", key="map_preview_rejects")
    elif not preview.get("problems"):
        st.success("No row would be rejected.")
    if tables:
        for tab, (name, df) in zip(st.tabs(list(tables)), tables.items(), strict=True):
            with tab:
                ui.dataframe(
                    df.head(PREVIEW_SHOWN), hide_index=True, width="stretch", key=f"map_preview_{name}"
                )


def mapping_screen(folder: str, sources: list[Path], settings: Settings,
                   on_load: Callable[[list[Path], Path | None], object]) -> None:
    """The screen for the uploaded ``sources``; "Load with this mapping" calls ``on_load(sources, mapping)``."""
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
        st.caption(ui.md(note))

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
                tables, rejects, problems = preview_mapping(mapping, sources, settings, limit=PREVIEW_LIMIT)
                st.session_state["_map_preview"] = {"toml": text, "tables": tables, "rejects": rejects,
                                                    "problems": problems}
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
            path = save_mapping(mapping, mappings_folder(), name, overwrite=overwrite, actor=ui.current_actor())
            st.session_state["_map_saved"] = str(path)
            st.success(f"Saved as {ui.md(path)}.")
        except (MappingError, KamError, OSError) as exc:
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
        f"“Load with this mapping” uses {ui.md(saved_path)}."
        if saved_path
        else "Not saved as it is: “Load with this mapping” uses the mapping as shown."
    )

    if load_clicked and mapping is not None:
        if saved_path is None:
            work = Path(folder) / ".kam"
            work.mkdir(exist_ok=True)
            saved_path = work / "mapping.toml"
            saved_path.write_text(text, encoding="utf-8")
        on_load(sources, saved_path)


