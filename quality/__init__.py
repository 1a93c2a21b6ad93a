"""Data quality: Great Expectations suites, built in code from typed thresholds."""
