"""Sparsefit: a REST service that fits sparse linear models for feature selection."""

__version__ = "0.1.0"
