"""Evaluation: DAVIS-format datasets read (`davis`), J and F as the official evaluation computes them (`metrics`),
the semi-supervised `benchmark` (propagate each sequence from its first annotation, then score it), and how
well confidence ranks frames (`confidence_rank`).
"""
