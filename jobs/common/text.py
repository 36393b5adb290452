"""Text cleaning shared by silver and the checks that compare bronze keys with silver's."""
from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F


def nullif_empty(col: Column) -> Column:
    return F.when(col != "", col)


def text_clean(col: Column) -> Column:
    """Free text: whitespace collapsed and trimmed; empty -> null. Case is kept."""
    return nullif_empty(F.trim(F.regexp_replace(col, r"\s+", " ")))
