"""SVG 1.1 renderings (stdlib only) of a model's coefficient path, its CV curve, and stability paths."""

from service.plots.cv import cv_svg
from service.plots.path import path_svg
from service.plots.stability import stability_svg

__all__ = ["cv_svg", "path_svg", "stability_svg"]
