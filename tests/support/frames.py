"""Comparing DataFrames as multisets of rows (jobs.common.frames)."""
from jobs.common.frames import comparable, same_rows

__all__ = ["comparable", "same_rows"]
