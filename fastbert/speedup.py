"""The one speedup formula that the library, the CLI, the reports and the app all use."""


def speedup(full_flops: float, spent_flops: float) -> float:
    """Full-model FLOPs / FLOPs spent. >>> speedup(100.0, 25.0) -> 4.0"""
    if spent_flops <= 0:
        raise ValueError(f"spent FLOPs must be positive, got {spent_flops}")
    return float(full_flops) / float(spent_flops)
