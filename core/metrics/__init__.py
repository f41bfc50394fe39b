"""Figures for the supervisor dashboard, from the conversation events, ratings, follow-ups and tickets tables.

    dashboard.py  metrics(since, until) -> the JSON of GET /api/dashboard/metrics; csv_table(figures, name)
                  -> one figure as a CSV table (header, rows); FIGURES names them

Nothing is replayed from Rasa's trackers: every figure is a query over indexed tables written as things
happened (core/conversation_events.py, core/ratings, core/tickets).
"""
from core.metrics.dashboard import FIGURES, MAX_RANGE_DAYS, csv_table, metrics, parse_range

__all__ = ["FIGURES", "MAX_RANGE_DAYS", "csv_table", "metrics", "parse_range"]
