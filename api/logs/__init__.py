"""Saved pod logs: each finished attempt's log, kept after Kubernetes removes its pod."""
