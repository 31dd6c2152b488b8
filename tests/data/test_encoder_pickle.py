"""A design encoder pickles as lists of its fields, and encoders pickled before (as objects) still load."""

from __future__ import annotations

import copyreg
import io
import pickle
from typing import Any

from service.data.design import DesignSpec, MissingPolicy, build_design
from service.data.encoder import DesignEncoder
from service.data.parsing import parse_split_json

TABLE = parse_split_json(
    ["age", "sex", "y"],
    [[30.0, "F", 1.5], [None, "M", 2.5], [50.0, None, 3.5], [41.0, "M", 0.5]],
)


def _encoder() -> DesignEncoder:
    spec = DesignSpec(target="y", features=("age", "sex"), family="gaussian", missing=MissingPolicy.MEAN)
    return build_design(TABLE, spec).encoder


class _AsBefore(pickle.Pickler):
    """Pickles an encoder as the default dataclass pickling did, before DesignEncoder.__reduce__."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, DesignEncoder):
            return copyreg.__newobj__, (DesignEncoder,), dict(obj.__dict__)
        return NotImplemented


def test_an_encoder_round_trips_through_pickle_exactly() -> None:
    encoder = _encoder()
    assert encoder.features[0].mean == (30.0 + 50.0 + 41.0) / 3 and encoder.features[1].levels == ("F", "M")
    data = pickle.dumps(encoder, protocol=5)
    assert b"encoder_from_fields" in data and b"FeatureEncoding" not in data
    back = pickle.loads(data)
    assert back == encoder and back.design_columns == ["age", "sex=F", "sex=M"]


def test_an_encoder_pickled_before_still_loads() -> None:
    encoder = _encoder()
    sink = io.BytesIO()
    _AsBefore(sink, protocol=5).dump(encoder)
    assert b"FeatureEncoding" in sink.getvalue() and b"encoder_from_fields" not in sink.getvalue()
    assert pickle.loads(sink.getvalue()) == encoder


def test_encodings_built_without_the_constructor_equal_the_constructors() -> None:
    from service.data.encoder import FeatureEncoding, feature_encodings, numeric_encodings
    from service.data.table import ColumnKind

    fast = feature_encodings(
        ["a", "g"], [ColumnKind.NUMERIC, ColumnKind.CATEGORICAL], [(), ("x", "y")], [1.5, None]
    )
    slow = (
        FeatureEncoding("a", ColumnKind.NUMERIC, mean=1.5),
        FeatureEncoding("g", ColumnKind.CATEGORICAL, ("x", "y")),
    )
    assert fast == slow and hash(fast) == hash(slow)
    assert pickle.loads(pickle.dumps(fast)) == slow
    assert numeric_encodings(["a"], [1.5]) == slow[:1]


def test_column_features_index_each_design_column_by_its_feature() -> None:
    encoder = _encoder()  # age, sex (levels F, M)
    assert encoder.column_features == (0, 1, 1)
    numeric = DesignEncoder(encoder.features[:1], encoder.missing)
    assert numeric.column_features == (0,) and numeric.design_columns == ["age"]
