"""Bronze -> silver: typed, conformed, deduplicated tables with PII normalised.

`main.build_silver(spark, lake, day)` is the entry point; `conform` holds one pure
transform per source, `normalize` the column normalisers, `scd2` and `upsert` the
history and latest-state write patterns.
"""
