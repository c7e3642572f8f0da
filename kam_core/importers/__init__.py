"""Recognising exports of known CRMs and mapped sources (the loader's first step).

``detect`` looks at the files of one source (a folder, an unpacked zip or single files) and,
when it recognises a format, returns ``SourceFile`` entries whose ``stager`` builds the staging
table ``stg`` with canonical column names, so that the loader's checks apply unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..loader import SourceFile


@dataclass
class Detection:
    files: list[SourceFile]
    consumed: set[Path] = field(default_factory=set)  # files handled here (not by name)
    messages: list[str] = field(default_factory=list)  # "Salesforce Data Export detected: ..."
    ignored: list[str] = field(default_factory=list)  # "Case.csv (not used by the KAM model)"


def detect(files: list[Path], base: Path, mapping: Path | None = None) -> Detection | None:
    """The recognised format of these files, or None for canonical files named after tables."""
    return None
