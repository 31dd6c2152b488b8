"""Importing this module compiles (or loads from numba's disk cache) every engine kernel.

The worker pool's forkserver preloads it, so each forked job starts with the kernels in memory and
no request ever pays for compilation.
"""

from service.modeling.engine.kernels import warm_up

warm_up()
