"""The knockoff filter's size limits, in a module of their own so the API can refuse at submit."""

# Every method holds a p x p covariance and its eigendecompositions, and fits a lasso on 2p columns.
MAX_COLUMNS = 2000
# Each Newton step of the SDP costs O(p^3); above this the default construction is equicorrelated.
SDP_MAX_COLUMNS = 500
# A sparse design is densified (its knockoffs are dense anyway) up to this many cells, model-X only.
DENSE_MAX_CELLS = 20_000_000
