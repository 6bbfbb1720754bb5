"""End-to-end fixtures (``stack``, ``gateway``) live in anime_e2e.fixtures."""

from anime_e2e.fixtures import gateway, stack

__all__ = ["gateway", "stack"]
