"""Backbones converted from files that ship inside Python packages (usable offline by name)."""
