"""Bronze -> silver: typed, conformed, deduplicated tables with PII normalised.

`main.run(rt, days)` is the stage (the stage contract); `conform` holds one pure
transform per source, `normalize` the column normalisers, `scd2` and `upsert` the
history and latest-state write patterns.
"""
