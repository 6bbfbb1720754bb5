"""anime_e2e."""
