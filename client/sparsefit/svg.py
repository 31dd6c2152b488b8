"""SVG: a plot from the service, shown inline by Jupyter and written to a file on request."""

from __future__ import annotations

import os
from pathlib import Path


class SVG:
    """An SVG document; notebooks render it through ``_repr_svg_``."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _repr_svg_(self) -> str:
        return self.text

    def save(self, file: str | os.PathLike[str]) -> Path:
        path = Path(file)
        path.write_text(self.text, encoding="utf-8")
        return path

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"<SVG, {len(self.text):,} characters>"
