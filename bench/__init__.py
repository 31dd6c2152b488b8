"""Side-by-side benchmarks of Sparsefit against the solvers users would otherwise pick."""
