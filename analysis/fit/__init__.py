"""The fitting engine: robust power-law sums, the L-BFGS-B driver, the bootstrap."""
