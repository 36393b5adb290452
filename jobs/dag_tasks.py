"""What the DAG files wire: a stage as an Airflow task, and the wait for a day's landing files.

- `run_stage_task(name)`: the body of a daily stage's task. The day it processes is the
  run's data interval start: with a data-interval timetable the run that starts at 00:00
  on day D+1 processes day D, whose files are complete.
- `run_weekly_stage_task(name)`: the body of a weekly stage's task, run as of the day the
  triggering `TRAINING_DUE` asset event names (the daily run that asked for it has built
  that day), or, for a run triggered by hand, the last whole day of its data interval.
- `LAKE_ASSETS`, `outlets(stage)`: the Airflow Assets a daily stage updates (silver, gold,
  serving), so a DAG may be scheduled on the lake's layers.
- `request_training_task()`: the daily run's last task: when training is due
  (`pipeline.training_requests`: the week's day, or drift) it updates `TRAINING_DUE` with the
  day, which schedules c360_train; otherwise it is skipped and updates nothing.
- `LandingSensor`: waits until every source the landing contract delivers daily has a
  file in `<landing>/<source>/ds=<day>/`; while waiting it is deferred to the triggerer
  (`LandingTrigger`), holding no worker slot. After `timeout` it fails, naming the
  folders still empty.
- `alert_task_failure`, `alert_run_failure`: the DAGs' failure callbacks, one alert each
  to `alerts.webhook_url` and, by email through Airflow's SMTP provider, to `alerts.email_to`
  (`jobs.common.alerts`). A task that fails for good (its retries spent) sends one; the
  run's own failure then sends none more, unless no task failed (a run timed out).
- `serving_deadline()`: c360_daily's `DeadlineAlert` when `alerts.serving_deadline_hour` is
  set: a scheduled run not done by that hour of the day after its landing day sends one
  `deadline_missed` alert (`alert_deadline_missed`, run by Airflow's triggerer).

Airflow is imported here and in `dags/` only; the stages never see it.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.sdk import Asset, BaseSensorOperator, get_current_context
from airflow.sdk.exceptions import AirflowSkipException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from jobs import pipeline
from jobs.common.errors import C360Error, ConfigError
from jobs.common.stage import Days


def _alerts_config():
    from jobs.common.config import load_config

    return load_config().alerts


def _day_of(context: dict[str, Any]) -> str | None:
    start = context.get("data_interval_start")
    return None if start is None else run_day(context).isoformat()


def deliver(alert: Any) -> None:
    """Send `alert` (a `jobs.common.alerts.Alert`) to the webhook and the email addresses configured;
    an alert that cannot be delivered is logged, never raised."""
    from jobs.common import alerts

    config = _alerts_config()
    alerts.send(alert, config.webhook_url, config.timeout_seconds)
    if not config.email_to:
        return
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    try:
        with SmtpHook(smtp_conn_id=config.smtp_conn_id) as hook:
            hook.send_email_smtp(to=list(config.email_to), subject=alert.subject, html_content=alert.html())
    except Exception as exc:  # noqa: BLE001 - a mail server's error must not change the run's outcome
        alerts.log.error("alert email to %s through connection %s could not be sent: %s",
                         ", ".join(config.email_to), config.smtp_conn_id, alerts.first_line(exc))


def alert_task_failure(context: dict[str, Any]) -> None:
    """A task's `on_failure_callback`: the task failed for good (retries spent)."""
    from jobs.common import alerts

    ti = context.get("ti") or context.get("task_instance")
    deliver(alerts.Alert(
        kind="task_failed", dag_id=ti.dag_id, day=_day_of(context), task_id=ti.task_id,
        error=alerts.first_line(context.get("exception")), log_url=getattr(ti, "log_url", None),
    ))


def alert_run_failure(context: dict[str, Any]) -> None:
    """A DAG's `on_failure_callback`: only when no task failure already told (e.g. the run timed out)."""
    from jobs.common import alerts

    if context.get("reason") == "task_failure":
        return
    run = context.get("dag_run")
    deliver(alerts.Alert(kind="run_failed", dag_id=getattr(run, "dag_id", "?"), day=_day_of(context),
                         error=context.get("reason")))


def serving_deadline() -> Any:
    """c360_daily's `DeadlineAlert`: serving ready by `alerts.serving_deadline_hour` (UTC) of the day after the
    landing day, i.e. the run's logical date (its data interval's start) + 24 h + the hour; None when unset."""
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    hour = _alerts_config().serving_deadline_hour
    if hour is None:
        return None
    if not 0 <= hour <= 23:
        raise ConfigError(f"alerts.serving_deadline_hour must be an hour from 0 to 23 (UTC), got {hour}")
    return DeadlineAlert(reference=DeadlineReference.DAGRUN_LOGICAL_DATE, interval=dt.timedelta(hours=24 + hour),
                         callback=AsyncCallback(alert_deadline_missed))


async def alert_deadline_missed(context: dict[str, Any], **_: Any) -> None:
    """The deadline's callback (run by the triggerer): one `deadline_missed` alert for a scheduled run.
    A backfill's or a manual run's deadline lies in the past by construction: those send none."""
    from jobs.common import alerts

    run = context.get("dag_run") or {}
    if run.get("run_type") != "scheduled":
        alerts.log.info("deadline of %s %s passed; no alert for a %s run", run.get("dag_id"), run.get("dag_run_id"),
                        run.get("run_type"))
        return
    start = run.get("data_interval_start")
    deadline = (context.get("deadline") or {}).get("deadline_time")
    await asyncio.to_thread(deliver, alerts.Alert(
        kind="deadline_missed", dag_id=run.get("dag_id", "?"), day=str(start)[:10] if start else None,
        error=f"run {run.get('run_id')} was not done by its deadline {deadline} (state {run.get('state')})"))


def run_day(context: dict[str, Any]) -> dt.date:
    """The landing day a run processes: the first day of its data interval."""
    start = context["data_interval_start"]
    return dt.date(start.year, start.month, start.day)


def run_landing(context: dict[str, Any]) -> str | None:
    """The run's `landing` param; None: the profile's landing URI."""
    return (context["params"] or {}).get("landing") or None


def run_stage_task(name: str) -> dict[str, Any]:
    """Run the stage `name` for this run's day, with the run's `landing` param (None: the profile's)."""
    context = get_current_context()
    return pipeline.run_stage(name, Days.of(run_day(context)), landing=run_landing(context))


# The lake's layers as Airflow Assets: a daily task updates those its stage writes.
LAKE_ASSETS = {layer: Asset(uri=f"c360://lake/{layer}", name=f"c360_{layer}") for layer in ("silver", "gold", "serving")}
# Updated by the daily run when training is due; c360_train is scheduled on it.
TRAINING_DUE = Asset(uri="c360://lake/gold/training_due", name="c360_training_due")


def outlets(stage: pipeline.Stage) -> list[Asset]:
    """The Assets the stage's task updates: the lake layers it writes."""
    return [LAKE_ASSETS[layer] for layer in stage.layers if layer in LAKE_ASSETS]


def request_training_task() -> dict[str, Any]:
    """Update TRAINING_DUE with the day when training is due; skipped (no update) otherwise."""
    context = get_current_context()
    day = run_day(context)
    reasons = pipeline.training_requests(day)
    if not reasons:
        raise AirflowSkipException(f"{day}: no training due (not the training weekday, no drift asking for it)")
    context["outlet_events"][TRAINING_DUE].extra = {"day": day.isoformat(), "reasons": reasons}
    return {"day": day.isoformat(), "reasons": reasons}


def training_day(context: dict[str, Any]) -> dt.date:
    """The day a c360_train run trains as of: its `day` param when given (a run triggered by hand), else the
    newest day its triggering TRAINING_DUE events name, else the day before its run (its data interval's end)."""
    given = (context.get("params") or {}).get("day")
    if given:
        return dt.date.fromisoformat(given)
    events = context.get("triggering_asset_events") or {}
    days = [dt.date.fromisoformat(e.extra["day"]) for found in events.values() for e in found
            if (getattr(e, "extra", None) or {}).get("day")]
    if days:
        return max(days)
    end = (context.get("data_interval_end") or context.get("logical_date") or dt.datetime.now(dt.UTC)) - dt.timedelta(days=1)
    return dt.date(end.year, end.month, end.day)


def run_weekly_stage_task(name: str) -> dict[str, Any]:
    """Run the weekly stage `name` as of the training day (`training_day`)."""
    return pipeline.run_stage(name, Days.of(training_day(get_current_context())))


class LandingNotReady(C360Error):
    """Landing files of a day did not arrive in time."""


class LandingTrigger(BaseTrigger):
    """Polls the landing area (in a thread) until the day's daily sources have files, or the deadline passes."""

    def __init__(self, day: str, landing: str | None, profile: str | None, poke_interval: float, deadline: float):
        super().__init__()
        self.day, self.landing, self.profile = day, landing, profile
        self.poke_interval, self.deadline = poke_interval, deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__name__}", {
            "day": self.day, "landing": self.landing, "profile": self.profile,
            "poke_interval": self.poke_interval, "deadline": self.deadline,
        })

    async def run(self) -> AsyncIterator[TriggerEvent]:
        days = Days.of(dt.date.fromisoformat(self.day))
        while True:
            missing = await asyncio.to_thread(pipeline.missing_landing, days, self.landing, self.profile)
            if not missing:
                yield TriggerEvent({"status": "ready", "missing": []})
                return
            left = self.deadline - time.time()
            if left <= 0:
                yield TriggerEvent({"status": "timeout", "missing": missing})
                return
            await asyncio.sleep(min(self.poke_interval, left))


class LandingSensor(BaseSensorOperator):
    """Waits for the run day's landing files of every daily-delivered source (deferrable)."""

    def __init__(self, *, profile: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.profile = profile

    def _missing(self, context: dict[str, Any]) -> tuple[str, str | None, list[str]]:
        day, landing = run_day(context), run_landing(context)
        return day.isoformat(), landing, pipeline.missing_landing(Days.of(day), landing, self.profile)

    def poke(self, context: dict[str, Any]) -> bool:
        return not self._missing(context)[2]

    def execute(self, context: dict[str, Any]) -> None:
        day, landing, missing = self._missing(context)
        if not missing:
            self.log.info("landing files of %s are in", day)
            return
        self.log.info("waiting for %s", ", ".join(missing))
        self.defer(
            trigger=LandingTrigger(day, landing, self.profile, self.poke_interval, time.time() + self.timeout),
            method_name="execute_complete",
        )

    def execute_complete(self, context: dict[str, Any], event: dict[str, Any]) -> None:
        if event["status"] != "ready":
            raise LandingNotReady(
                f"landing files of {run_day(context)} still missing after {dt.timedelta(seconds=self.timeout)}: "
                f"{', '.join(event['missing'])}; deliver them and clear this task, or trigger the day with the "
                f"`landing` param pointing where they are"
            )
