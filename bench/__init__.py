"""Benchmarks: measured figures for the README, never asserted in tests (budgets: DESIGN §8)."""
