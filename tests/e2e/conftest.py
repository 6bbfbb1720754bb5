"""End-to-end fixtures live in anime_e2e.fixtures."""

from anime_e2e.fixtures import api, contract, demo_anime, gateway, seeded, stack

__all__ = ["api", "contract", "demo_anime", "gateway", "seeded", "stack"]
