"""The quality gate's Checkpoint action (Great Expectations): GX's Data Docs page of each validation.

GX's own `UpdateDataDocsAction` rebuilds a site from the validation results its context
holds; the gate's context is ephemeral and holds only this process's, so its site would
forget every earlier day. This action renders the page of each validation the checkpoint
ran with GX's renderer; the gate writes it into the lake's Data Docs site
(`jobs/quality/docs.py`), whose index is built from `ops.dq_results`, every day there is.

Before rendering, the action completes each validation result:
- the results the gate carries in (`carry`): a day's expectations judged on the range's
  batch (`jobs.quality.gate`), added to the day's result and its statistics, and every
  result put in the suite's order, so the day's page and record hold every expectation of
  the suite as validating the day alone would;
- `partial_unexpected_counts`: the gate validates with GX's BASIC result format (a
  SUMMARY asks every map expectation for two more metrics, its unexpected rows' index list
  and query, which the gate never uses); the counts of the sampled unexpected values are
  computed from BASIC's sample exactly as GX's SUMMARY computes them.

Imported once per process: defining a `ValidationAction` registers its `type` with GX.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from great_expectations.checkpoint import ValidationAction
from great_expectations.compatibility.pydantic import PrivateAttr

# GX's default sample of unexpected values (`partial_unexpected_count`), in BASIC as in SUMMARY.
PARTIAL_UNEXPECTED_COUNT = 20


class DataDocsPageAction(ValidationAction):
    """Renders GX's page of each of the checkpoint's validation results; `pages` holds the last run's."""

    type: Literal["c360_data_docs_page"] = "c360_data_docs_page"
    _pages: list[str] = PrivateAttr(default_factory=list)
    _carried: list[Any] = PrivateAttr(default_factory=list)
    _order: dict[str, int] = PrivateAttr(default_factory=dict)

    @property
    def pages(self) -> list[str]:
        return self._pages

    def carry(self, results: Iterable[Any], order: Mapping[str, int]) -> None:
        """Expectation results the next run adds to its validation result before rendering it, and the place of
        each result in the suite, by its expectation's id."""
        self._carried, self._order = list(results), dict(order)

    def run(self, checkpoint_result: Any, action_context: Any = None) -> dict:
        from jobs.quality import docs

        (carried, self._carried), order = (self._carried, []), self._order
        for result in checkpoint_result.run_results.values():
            merge_results(result, carried)
            result.results = sorted(result.results, key=lambda r: order.get(r.expectation_config.id, len(order)))
            for expectation_result in result.results:
                add_unexpected_counts(expectation_result)
        self._pages = [docs.render_validation_page(result) for result in checkpoint_result.run_results.values()]
        return {"pages": len(self._pages)}


def merge_results(result: Any, extra: list[Any]) -> None:
    """Add expectation results to a suite's validation result, its success and statistics counted again as GX
    counts them (`calc_validation_statistics`)."""
    if not extra:
        return
    result.results = [*result.results, *extra]
    evaluated = len(result.results)
    successful = sum(1 for r in result.results if r.success)
    result.success = successful == evaluated
    result.statistics = {
        **result.statistics,
        "evaluated_expectations": evaluated,
        "successful_expectations": successful,
        "unsuccessful_expectations": evaluated - successful,
        "success_percent": successful / evaluated * 100,
    }


def add_unexpected_counts(result: Any) -> None:
    """`partial_unexpected_counts` of a map expectation's BASIC result, as GX's SUMMARY format has it: the sampled
    unexpected values counted, most frequent first (a multicolumn row as the tuple of its values)."""
    values = (result.result or {}).get("partial_unexpected_list")
    if values is None or "partial_unexpected_counts" in result.result:
        return
    hashable = [tuple(v.values()) for v in values] if values and isinstance(values[0], dict) else values
    try:
        counts = [{"value": key, "count": count} for key, count in
                  sorted(Counter(hashable).most_common(PARTIAL_UNEXPECTED_COUNT), key=lambda x: (-x[1], x[0]))]
    except TypeError:
        counts = [{"error": "partial_exception_counts requires a hashable type"}]
    result.result["partial_unexpected_counts"] = counts
