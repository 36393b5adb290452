"""Data quality gates: Great Expectations suites run between the lake's layers."""
