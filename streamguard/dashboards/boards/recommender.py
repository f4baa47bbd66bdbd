"""The recommender: is it learning from clean events and publishing fresh lists?"""

from __future__ import annotations

from streamguard.dashboards.boards.common import (
    RATE,
    Q,
    quantiles,
)
from streamguard.dashboards.spec import Dashboard, Panel, Row

__all__ = ["RECOMMENDER"]

RECOMMENDER = Dashboard(
    uid="streamguard-recommender",
    title="StreamGuard / Recommender",
    description="Is the recommender learning from clean events and publishing fresh lists?",
    variables=(),
    items=(
        Row("Learning and publishing"),
        Panel(
            "Updates per second",
            "Is the model learning from the clean behaviour stream (and the catalogue)?",
            "timeseries",
            (
                Q(f"sum(rate(streamguard_recommender_updates_total{RATE}))", "events learned"),
                Q(
                    f"sum(rate(streamguard_recommender_skipped_events_total{RATE}))",
                    "events skipped (no user or product)",
                ),
                Q(
                    f"sum(rate(streamguard_recommender_product_updates_total{RATE}))",
                    "catalogue changes",
                ),
            ),
            unit="suffix: /s",
        ),
        Panel(
            "Publishes per second",
            "Are new recommendation lists going out, or are changes mostly no-ops?",
            "timeseries",
            (
                Q(
                    f"sum(rate(streamguard_recommendations_published_total{RATE}))",
                    "published",
                ),
                Q(
                    f"sum(rate(streamguard_recommendations_unchanged_total{RATE}))",
                    "unchanged (not published)",
                ),
            ),
            unit="suffix: /s",
        ),
        Row("Freshness"),
        Panel(
            "Staleness",
            "How long from a user's first unpublished change to their new list going out?",
            "timeseries",
            quantiles("streamguard_recommendation_staleness_seconds", ""),
            unit="s",
        ),
        Panel(
            "Pending users and oldest change",
            "Is the publisher falling behind (users waiting, age of the oldest change)?",
            "timeseries",
            (
                Q("sum(streamguard_recommender_pending_users)", "pending users"),
                Q("max(streamguard_recommender_oldest_pending_seconds)", "oldest change (s)"),
            ),
        ),
        Row("Model"),
        Panel(
            "Model size by structure",
            "Is the model's memory bounded (users, items, neighbours, history held)?",
            "timeseries",
            (
                Q(
                    "sum by (structure) (streamguard_recommender_model_entries)",
                    "{{structure}}",
                ),
            ),
            unit="suffix: entries",
        ),
        Panel(
            "Recommender process failures and lost events",
            "Is the recommender process healthy (restarts, events it never learned)?",
            "timeseries",
            (
                Q(
                    f"sum(increase(streamguard_recommender_process_failures_total{RATE}))",
                    "failures",
                ),
                Q(
                    f"sum(rate(streamguard_recommender_lost_events_total{RATE}))",
                    "events lost /s",
                ),
            ),
        ),
        Panel(
            "Snapshot size",
            "How big is the last model snapshot (restart cost, storage)?",
            "stat",
            (Q("max(streamguard_recommender_snapshot_bytes)", "snapshot"),),
            unit="bytes",
            width=6,
        ),
    ),
)
