"""Hard-negative mining: training rows (pairs, triplets, n-tuples) from a first stage, with false-negative filtering."""
