"""`make bench`: speed and quality measurements (never timed tests)."""
