"""Alerts: one message per event, to the configured webhook (`alerts.webhook_url`) and by email.

The webhook's JSON message carries `text` (what Slack and Teams incoming webhooks show) and
the fields a receiver may route on: `kind` (task_failed, run_failed, deadline_missed),
`dag_id`, `task_id`, `day` (the landing day the run processes), `error` (the first line of
the error) and `log_url`. The email (sent by the DAGs through Airflow's SMTP provider,
`jobs/dag_tasks.py`) has `subject` as its subject and `html()` as its body: the same
fields. Sending never raises: an alert that cannot be delivered is logged, and the run's
own outcome stands.
"""
from __future__ import annotations

import html
import json
import logging
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    kind: str  # task_failed, run_failed or deadline_missed
    dag_id: str
    day: str | None
    task_id: str | None = None
    error: str | None = None
    log_url: str | None = None

    @property
    def text(self) -> str:
        lines = [self.subject]
        if self.error:
            lines.append(f"error: {self.error}")
        if self.log_url:
            lines.append(f"log: {self.log_url}")
        return "\n".join(lines)

    @property
    def subject(self) -> str:
        what = {"task_failed": f"task {self.task_id} failed", "run_failed": "run failed",
                "deadline_missed": "deadline missed"}.get(self.kind, self.kind)
        return f"c360: {self.dag_id} for {self.day or 'an unknown day'}: {what}"

    def payload(self) -> dict:
        return {"text": self.text, **asdict(self)}

    def html(self) -> str:
        """The email's body: the subject, then every field in a table, the log URL as a link."""
        rows = "".join(
            f"<tr><th align='left'>{name}</th><td>{_cell(name, value)}</td></tr>"
            for name, value in asdict(self).items() if value is not None)
        return f"<p>{html.escape(self.subject)}</p><table>{rows}</table>"


def _cell(name: str, value: object) -> str:
    text = html.escape(str(value))
    return f"<a href='{text}'>{text}</a>" if name == "log_url" else text


def first_line(error: object, limit: int = 500) -> str | None:
    """The gist of an error: its first non-empty line (Spark and dbt append pages after it)."""
    if error is None:
        return None
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = f"{type(error).__name__}: {lines[0]}" if isinstance(error, BaseException) and lines else (
        lines[0] if lines else type(error).__name__)
    return text if len(text) <= limit else text[:limit] + "..."


def send(alert: Alert, webhook_url: str, timeout: float = 10.0) -> bool:
    """POST the alert to `webhook_url`; True when it answered 2xx. Without a URL the alert is only logged."""
    log.warning("alert: %s", alert.text.replace("\n", " | "))
    if not webhook_url:
        return False
    request = urllib.request.Request(webhook_url, data=json.dumps(alert.payload()).encode("utf-8"),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return 200 <= answer.status < 300
    except (urllib.error.URLError, OSError, ValueError) as exc:
        log.error("alert to %s could not be sent: %s", webhook_url, exc)
        return False
