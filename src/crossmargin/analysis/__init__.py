"""Analyses built on the margin models: backtests, stress tests, strategies."""
