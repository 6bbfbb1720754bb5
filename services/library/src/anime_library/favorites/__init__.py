"""Favorites: the anime a user marked, written by jobs."""
