"""Speed benchmark (``tmem bench speed``): seeded workloads, timing, peers and reports."""
