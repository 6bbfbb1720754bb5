"""The library service."""
