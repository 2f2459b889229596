"""Warnings and errors of lrcontrol."""

__all__ = ["LRControlWarning"]


class LRControlWarning(UserWarning):
    """Something a user can act on: fragile numerics, a fall-back."""
