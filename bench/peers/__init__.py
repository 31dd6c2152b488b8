"""One adapter module per library: ``fit(job) -> Fit`` and ``version()``; the registry is in ``base``."""
