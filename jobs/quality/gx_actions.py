"""The quality gate's Checkpoint action (Great Expectations): GX's Data Docs page of each validation.

GX's own `UpdateDataDocsAction` rebuilds a site from the validation results its context
holds; the gate's context is ephemeral and holds only this process's, so its site would
forget every earlier day. This action renders the page of each validation the checkpoint
ran with GX's renderer; the gate writes it into the lake's Data Docs site
(`jobs/quality/docs.py`), whose index is built from `ops.dq_results`, every day there is.

Imported once per process: defining a `ValidationAction` registers its `type` with GX.
"""
from __future__ import annotations

from typing import Any, Literal

from great_expectations.checkpoint import ValidationAction
from great_expectations.compatibility.pydantic import PrivateAttr


class DataDocsPageAction(ValidationAction):
    """Renders GX's page of each of the checkpoint's validation results; `pages` holds the last run's."""

    type: Literal["c360_data_docs_page"] = "c360_data_docs_page"
    _pages: list[str] = PrivateAttr(default_factory=list)

    @property
    def pages(self) -> list[str]:
        return self._pages

    def run(self, checkpoint_result: Any, action_context: Any = None) -> dict:
        from jobs.quality import docs

        self._pages = [docs.render_validation_page(result) for result in checkpoint_result.run_results.values()]
        return {"pages": len(self._pages)}
