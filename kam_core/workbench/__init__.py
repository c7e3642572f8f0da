"""The team's own records beside the CRM export: edits, reviews and snapshots."""
