"""Sparsefit's Python client: upload tables, fit sparse GLMs, read and use the models, over HTTP."""

from __future__ import annotations

from sparsefit.client import Client
from sparsefit.errors import SparsefitError
from sparsefit.models import Model
from sparsefit.resources import Dataset, Job
from sparsefit.selections import Selection
from sparsefit.svg import SVG
from sparsefit.version import __version__

__all__ = ["SVG", "Client", "Dataset", "Job", "Model", "Selection", "SparsefitError", "__version__"]
