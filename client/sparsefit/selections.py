"""Selection: which features a stability, knockoffs or bootstrap job found, with their evidence."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from sparsefit.optional import optional
from sparsefit.svg import SVG

if TYPE_CHECKING:
    from sparsefit.transport import Http


class Selection:
    """A stored selection (the service's selection document in ``info``)."""

    def __init__(self, http: Http, info: dict[str, Any]) -> None:
        self._http = http
        self.info = info

    def __repr__(self) -> str:
        return f"<Selection {self.id}: {self.kind} of {self.target!r}, {len(self.selected)} selected>"

    @property
    def id(self) -> str:
        return str(self.info["id"])

    @property
    def kind(self) -> str:
        """``stability``, ``knockoffs`` or ``bootstrap``."""
        return str(self.info["kind"])

    @property
    def target(self) -> str:
        return str(self.info.get("target", ""))

    @property
    def selected(self) -> list[str]:
        """The selected features: stable (stability), past the knockoff threshold (knockoffs), or
        whose interval excludes 0 (bootstrap)."""
        return [str(name) for name in self.info["selected"]]

    def evidence(self) -> Any:
        """Per feature its evidence (probability, statistic, or frequency and interval): a pandas
        DataFrame indexed by feature when pandas is installed, else a list of dicts."""
        rows = [dict(entry) for entry in self.info["features"]]
        pandas = optional("pandas")
        if pandas is None:
            return rows
        frame = pandas.DataFrame(rows).set_index("feature")
        frame["selected"] = frame.index.isin(self.selected)
        return frame.dropna(axis="columns", how="all")

    def plot_stability(self, file: str | os.PathLike[str] | None = None) -> SVG:
        """The stability path (stability selections only); written to ``file`` when given."""
        response = self._http.request("GET", f"/v1/selections/{self.id}/plots/stability.svg")
        svg = SVG(response.text)
        if file is not None:
            svg.save(file)
        return svg
