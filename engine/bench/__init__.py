"""Benchmarks of the engine; each writes JSON for tracking and prints a table for people."""
