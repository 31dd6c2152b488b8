"""What runs inside a worker process: the job kinds, the process entry point, the model artifact.

Layout: ``tasks`` (what every task carries and what a job hands back), ``kinds`` (one module per
kind of job: how it runs and what it stores), ``process`` (the process entry point, progress and
cancellation), ``design`` (the dataset as a design matrix), ``artifact`` (the stored model).
"""

import os

# One BLAS/OpenMP thread per worker, set before numpy loads its BLAS: oversubscribed BLAS made a
# 0.6 s LassoCV take 16 s on our 2-core machines. The forkserver imports this package first.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
