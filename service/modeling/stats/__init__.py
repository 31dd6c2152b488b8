"""Selection procedures above the path: stability, knockoffs, bootstrap, relax, adaptive, inference."""
