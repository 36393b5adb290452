"""Landing -> bronze: schema-enforced, exactly-once per file, bad rows to quarantine."""
