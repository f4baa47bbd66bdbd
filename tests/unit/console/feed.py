"""Records as StreamGuard's workers publish them, fed to a console store (no broker)."""

from __future__ import annotations

from typing import Any

import orjson

from streamguard.console.store import ConsoleStore


class Feed:
    """Appends records to a store with increasing offsets per topic."""

    def __init__(self, store: ConsoleStore) -> None:
        self.store = store
        self.offsets: dict[str, int] = {}

    def put(self, topic: str, value: Any, *, key: str | None = None, at: float = 0.0) -> None:
        offset = self.offsets.get(topic, 0)
        self.offsets[topic] = offset + 1
        raw = None if value is None else orjson.dumps(value)
        self.store.add(topic, 0, offset, key.encode() if key else None, raw, at)

    def quarantine(
        self, stream: str, code: str, *, raw: str = "{}", offset: int = 0, at: str = ""
    ) -> None:
        self.put(
            "streamguard.quarantine",
            {
                "source": {"topic": f"events.{stream}", "partition": 1, "offset": offset},
                "raw": raw,
                "encoding": "utf-8",
                "reasons": [{"code": code, "field": "user_id", "message": f"{code} here"}],
                "received_at": at or f"2027-01-15T08:00:{offset % 60:02d}.000Z",
            },
            key=f"events.{stream}",
        )

    def signals(
        self,
        stream: str,
        records_in: int,
        quarantined: int,
        *,
        at: float,
        source: str = "w1",
        signals: list[dict[str, Any]] | None = None,
    ) -> None:
        self.put(
            "streamguard.findings",
            {
                "kind": "signals",
                "stream": stream,
                "field": None,
                "source": source,
                "signals": signals or [],
                "records_in": records_in,
                "records_quarantined": quarantined,
                "reasons": [],
                "reported_at": "2027-01-15T08:00:00.000Z",
            },
            key=stream,
            at=at,
        )

    def finding(self, stream: str, kind: str, field: str, statistic: float, *, at: float) -> None:
        self.put(
            "streamguard.findings",
            {
                "kind": kind,
                "stream": stream,
                "field": field,
                "severity": "warning",
                "statistic": statistic,
                "threshold": 0.3,
                "window": {"reference": 500, "recent": 200},
                "examples": ["before: ana@example.com", "after: x"],
                "position": {"topic": f"events.{stream}", "partition": 0, "offset": 9},
                "detected_at": "2027-01-15T08:00:00.000Z",
                "summary": f"{field} drifted",
            },
            key=stream,
            at=at,
        )

    def incident(self, incident_id: str, stream: str, status: str, *, at: float) -> None:
        self.put(
            "streamguard.incidents",
            {
                "status": status,
                "incident_id": incident_id,
                "group_key": stream,
                "stream": stream,
                "severity": "critical",
                "summary": f"{stream}: 1 signal (quality_drop on validity)",
                "signals": [
                    {
                        "kind": "quality_drop",
                        "stream": stream,
                        "field": None,
                        "dimension": "validity",
                        "statistic": 0.41,
                        "threshold": 0.9,
                        "since": "2027-01-15T08:00:00.000Z",
                    }
                ],
                "top_reasons": [{"code": "unknown_enum", "field": "event_type", "count": 9}],
                "examples": [{"topic": "events.behavior", "partition": 0, "offset": 3}],
                "records_in": 100,
                "records_quarantined": 9,
                "related": [],
                "started_at": "2027-01-15T08:00:00.000Z",
                "ended_at": "2027-01-15T08:01:00.000Z" if status == "resolved" else None,
                "duration_s": 60.0,
                "reopened": 0,
                "links": {},
            },
            key=incident_id,
            at=at,
        )

    def inventory(self, key: str) -> None:
        self.put(
            "streamguard.inventory",
            {
                "stream": key,
                "source": key,
                "records": 10,
                "objects": 10,
                "schema": "behavior.v1",
                "fields": [
                    {
                        "path": "email",
                        "presence": 0.5,
                        "types": {"string": 1.0},
                        "distinct_estimate": 5,
                        "numeric": None,
                        "top_values": [{"value": "[email]", "share": 0.2}],
                        "tags": [{"tag": "email", "confidence": 0.9}],
                        "pii": {"email": 0.5},
                        "in_schema": False,
                    }
                ],
            },
            key=key,
        )
