"""Delivery orchestration: what the pipeline hands matches and periods to.

deliver_new_matches(ctx, match_ids): instant alerts for matches new to their article.
send_due_digests(ctx): digests whose period has ended.
"""

from __future__ import annotations

import logging

from worker.context import AppContext

log = logging.getLogger(__name__)


def deliver_new_matches(ctx: AppContext, match_ids: list[int]) -> int:
    """Instant alerts for new matches; returns the number of alerts sent."""
    log.info("%d new matches to deliver", len(match_ids))
    return 0


def send_due_digests(ctx: AppContext) -> int:
    """Digests whose period is due; returns the number sent."""
    return 0
