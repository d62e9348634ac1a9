"""Alert notifications as kb reads them: Alertmanager's webhook payload (version "4") and Grafana
alerting's (the same outer shape, version "1", plus orgId, state, title, message and per-alert
values and URLs), parsed leniently (unknown keys ignored, no version required), and the query
each alert is searched with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kb.errors import BadQuery

QUERY_LABELS = ("service", "namespace", "job")  # labels that say where the problem is
MAX_FIELD = 4000  # characters of one annotation that go into a query


def _text(value: object) -> str:
    """A scalar as text (lone surrogates replaced); anything else is no text."""
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return ""
    text = value if isinstance(value, str) else str(value)
    return text if text.isascii() else text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _strings(value: object, where: str) -> dict[str, str]:
    """A label or annotation set: an object of scalars (other values are dropped)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadQuery(f"`{where}` must be an object of strings, not {type(value).__name__}")
    return {_text(k): _text(v) for k, v in value.items() if _text(v)}


@dataclass(frozen=True)
class Alert:
    """One alert of a notification."""

    status: str  # firing | resolved
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: str = ""
    ends_at: str = ""
    generator_url: str = ""
    fingerprint: str = ""

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def key(self) -> tuple[str, str]:
        """What identifies one firing of one alert: a repeat notification has the same key."""
        ident = self.fingerprint or "\0".join(f"{k}={v}" for k, v in sorted(self.labels.items()))
        return ident, self.starts_at

    @property
    def runbook_url(self) -> str:
        return self.annotations.get("runbook_url", "").strip()

    def query(self) -> str:
        """The text kb searches for this alert: its name, summary and description, then where it
        fires (service, namespace, job); empty when the alert has no text of its own."""
        a = self.annotations
        words = [self.name, a.get("summary", ""), a.get("description", "")]
        if not (words[1] or words[2]):
            words.append(a.get("message", ""))  # older rules (kube-prometheus) use `message`
        lines = [w.strip()[:MAX_FIELD] for w in words if w.strip()]
        if not lines:
            return ""
        where = " ".join(f"{k}: {self.labels[k]}" for k in QUERY_LABELS if self.labels.get(k))
        return "\n".join([*lines, where] if where else lines)


@dataclass(frozen=True)
class AlertGroup:
    """One notification: the alerts of one group, and where it came from."""

    source: str  # "alertmanager" or "grafana" (the query log's channel)
    alerts: list[Alert]
    receiver: str = ""
    status: str = ""
    group_key: str = ""
    external_url: str = ""
    group_labels: dict[str, str] = field(default_factory=dict)
    truncated: int = 0  # alerts Alertmanager left out (max_alerts)

    @property
    def title(self) -> str:
        """The group as people name it: its group labels, else its alerts' names."""
        if self.group_labels:
            return ", ".join(f"{k}={v}" for k, v in sorted(self.group_labels.items()))
        return ", ".join(sorted({a.name for a in self.alerts if a.name})) or "alerts"


def _is_grafana(body: Mapping[str, Any]) -> bool:
    return "orgId" in body or str(body.get("version", "")) == "1" or ("state" in body and "title" in body)


def parse_payload(body: object) -> AlertGroup:
    """An Alertmanager or Grafana webhook body as an AlertGroup; BadQuery (400) for a body that
    is not one (not an object, no `alerts` list, an alert that is not an object)."""
    if not isinstance(body, dict):
        raise BadQuery("the body is not an alert notification: send Alertmanager's or Grafana's webhook JSON")
    raw_alerts = body.get("alerts")
    if not isinstance(raw_alerts, list):
        raise BadQuery("the notification has no `alerts` list (Alertmanager and Grafana webhook payloads do)")
    status = _text(body.get("status")).lower()
    alerts = []
    for i, a in enumerate(raw_alerts):
        if not isinstance(a, dict):
            raise BadQuery(f"`alerts[{i}]` must be an object, not {type(a).__name__}")
        alerts.append(
            Alert(
                status=(_text(a.get("status")) or status or "firing").lower(),
                labels=_strings(a.get("labels"), f"alerts[{i}].labels"),
                annotations=_strings(a.get("annotations"), f"alerts[{i}].annotations"),
                starts_at=_text(a.get("startsAt")),
                ends_at=_text(a.get("endsAt")),
                generator_url=_text(a.get("generatorURL")),
                fingerprint=_text(a.get("fingerprint")),
            )
        )
    truncated = body.get("truncatedAlerts")
    return AlertGroup(
        source="grafana" if _is_grafana(body) else "alertmanager",
        alerts=alerts,
        receiver=_text(body.get("receiver")),
        status=status,
        group_key=_text(body.get("groupKey")),
        external_url=_text(body.get("externalURL")),
        group_labels=_strings(body.get("groupLabels"), "groupLabels")
        if isinstance(body.get("groupLabels"), dict)
        else {},
        truncated=truncated if isinstance(truncated, int) and not isinstance(truncated, bool) else 0,
    )
