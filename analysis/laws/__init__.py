"""The laws: forms and results, loss laws, compute frontiers, annealed points, the lr rule."""
