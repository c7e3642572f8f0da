"""Loading CRM exports: the canonical schema, file readers, the loader and the importers."""
