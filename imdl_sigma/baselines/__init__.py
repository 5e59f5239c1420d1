"""Training-free and learned mask generators compared with SIGMA (paper Table 1)."""
