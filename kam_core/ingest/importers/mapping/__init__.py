"""The generic column mapping: a TOML file that maps any export to the canonical tables.

A mapping names, per canonical table, either a source ``file`` with ``columns`` (canonical
column = source header), value maps for enumerations, constant ``defaults`` and parsing
options, or one read-only DuckDB ``sql`` SELECT over the source files (joins, aggregates).
The format is documented in ``docs/importing.md``; ``mappings/northwind.toml`` is an example.

The package is split along its seams: ``model`` (the mapping file: parse, validate, write),
``staging`` (the stagers that feed a mapped file to the loader), ``proposals`` (a first guess
from header names and sample values) and ``editing`` (the mapping screen's helpers: edit,
preview, save). Everything public is importable from here.

>>> m = Mapping.from_toml('[tables.accounts]\\nfile = "kunden.csv"\\ncolumns = {account_id = "Nr", name = "Firma"}')
>>> m.tables["accounts"].columns
{'account_id': 'Nr', 'name': 'Firma'}
>>> Mapping.from_toml(m.to_toml()) == m
True
"""

from kam_core.ingest.importers.mapping.editing import (
    NO_SOURCE,
    SOURCE_JOIN,
    defaults_text,
    edited_mapping,
    edited_table,
    needs_mapping,
    parse_defaults,
    preview_mapping,
    propose_table,
    save_mapping,
    saved_mappings,
    source_files,
    source_label,
    source_options,
    source_value,
)
from kam_core.ingest.importers.mapping.model import Mapping, MappingError, TableMapping, validate_select
from kam_core.ingest.importers.mapping.proposals import draft_mapping_text, propose_mapping, sample_rows
from kam_core.ingest.importers.mapping.staging import (
    MappedSources,
    apply_overrides,
    column_sql,
    mapped_sources,
    sql_alias,
)

__all__ = [
    "NO_SOURCE",
    "SOURCE_JOIN",
    "MappedSources",
    "Mapping",
    "MappingError",
    "TableMapping",
    "apply_overrides",
    "column_sql",
    "defaults_text",
    "draft_mapping_text",
    "edited_mapping",
    "edited_table",
    "mapped_sources",
    "needs_mapping",
    "parse_defaults",
    "preview_mapping",
    "propose_mapping",
    "propose_table",
    "sample_rows",
    "save_mapping",
    "saved_mappings",
    "source_files",
    "source_label",
    "source_options",
    "source_value",
    "sql_alias",
    "validate_select",
]
