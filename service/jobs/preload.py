"""Imported once by the worker pool's forkserver: everything a job needs, so that no job imports."""

# Every job is a fresh fork of the forkserver; whatever a job imports itself it pays again.
# service.worker comes first in the pool's preload list: it limits BLAS threads before numpy loads.
# pyarrow.dataset and pyarrow.pandas_compat: pyarrow.parquet.read_table imports them (with Acero,
# ORC and Substrait) on its first call, 200-500 ms per job. service.modeling.fit is the engine
# and service.modeling.stats the selection procedures, which the web process never imports;
# service.modeling.engine.warm compiles (or loads from numba's disk cache) every kernel.
import pyarrow.dataset
import pyarrow.pandas_compat  # noqa: F401

import service.modeling.engine.warm
import service.modeling.fit
import service.modeling.stats.bootstrap
import service.modeling.stats.inference
import service.modeling.stats.knockoffs
import service.modeling.stats.stability
import service.worker.kinds  # noqa: F401  (the job kinds, imported by no module here)
from service.worker.versions import versions

# Recorded with every model; read from the distributions' metadata (importlib.metadata and its
# email parser), which is cached here once rather than imported and parsed by every job.
versions()
