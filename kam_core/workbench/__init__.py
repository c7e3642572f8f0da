"""The team's own records beside the CRM export: edits, reviews and snapshots.

- ``edits``: ``Workbench`` — validated writes with history and undo, reads for the editors,
  the orphans a later export leaves (``docs/workbench.md`` lists the functions);
- ``overlay``: ``overlay_for(store_path)``, the export overlaid with the team's values for
  ``kam_core.dataset.open_dataset``;
- ``store``: the SQLite store, its migrations and ``store_version`` (for cache keys);
- ``excel``: the Excel round trip; ``cli``: ``python -m kam_core overlay …``;
- ``tables``: the editable tables and their keys; ``checks``: the loader's checks on edits.
"""
