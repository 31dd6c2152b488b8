"""Parsing uploads into tables, storing them as Parquet, and building design matrices for fits."""

from service.data.checks import check_design_columns
from service.data.design import Design, build_design
from service.data.encoder import DesignEncoder, FeatureEncoding
from service.data.parsing import parse_csv, parse_parquet, parse_split_json
from service.data.spec import FAMILIES, DesignSpec, MissingPolicy, TargetKind
from service.data.table import Column, ColumnKind, Table
from service.data.tableio import column_summaries, table_from_bytes, table_to_bytes

__all__ = [
    "FAMILIES",
    "Column",
    "ColumnKind",
    "Design",
    "DesignEncoder",
    "DesignSpec",
    "FeatureEncoding",
    "MissingPolicy",
    "Table",
    "TargetKind",
    "build_design",
    "check_design_columns",
    "column_summaries",
    "parse_csv",
    "parse_parquet",
    "parse_split_json",
    "table_from_bytes",
    "table_to_bytes",
]
