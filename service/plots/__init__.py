"""SVG 1.1 renderings (stdlib only) of a model's coefficient path and its cross-validation curve."""

from service.plots.cv import cv_svg
from service.plots.path import path_svg

__all__ = ["cv_svg", "path_svg"]
