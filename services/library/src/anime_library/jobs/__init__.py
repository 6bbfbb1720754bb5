"""Durable jobs: the runner every write of favorites, progress and views goes through."""
