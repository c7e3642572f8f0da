"""KAM dashboard core: canonical data model, loader, metrics. Never imports streamlit."""

__version__ = "0.1.0"
