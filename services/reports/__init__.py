"""Reports the console shows: pure functions over hourly metrics and parameter batches.

No I/O and no Streamlit: the console's pages load the data, call these functions and draw the
frames they return. The statistics themselves come from :mod:`services.statistics`.
"""

from services.reports.hourly import counts_by_model, hourly_frame, latest_window, window_counts
from services.reports.overview import (
    AreaSummary,
    BatchAlert,
    Leader,
    batch_alerts,
    is_batch_stale,
    leader_from_batch,
    leader_from_counts,
    summarise_area,
)
from services.reports.posteriors import (
    batch_history_frame,
    density_frame,
    posterior_table,
)
from services.reports.winners import (
    ArmLift,
    RealtimeWinner,
    daily_winner_frame,
    realtime_winner,
)

__all__ = [
    "AreaSummary",
    "ArmLift",
    "BatchAlert",
    "Leader",
    "RealtimeWinner",
    "batch_alerts",
    "batch_history_frame",
    "counts_by_model",
    "daily_winner_frame",
    "density_frame",
    "hourly_frame",
    "is_batch_stale",
    "latest_window",
    "leader_from_batch",
    "leader_from_counts",
    "posterior_table",
    "realtime_winner",
    "summarise_area",
    "window_counts",
]
