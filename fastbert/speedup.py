"""The one speedup formula that the library, the CLI, the reports and the app all use."""


def speedup(full_flops: float, spent_flops: float) -> float:
    """Full-model FLOPs / FLOPs spent. >>> speedup(100.0, 25.0) -> 4.0"""
    if spent_flops <= 0:
        raise ValueError(f"spent FLOPs must be positive, got {spent_flops}")
    return float(full_flops) / float(spent_flops)


def saved_fraction(full_flops: float, spent_flops: float) -> float:
    """Share of the full model's FLOPs not spent: 1 - spent / full = 1 - 1 / speedup.

    >>> saved_fraction(100.0, 25.0)
    0.75
    """
    return 1.0 - 1.0 / speedup(full_flops, spent_flops)
