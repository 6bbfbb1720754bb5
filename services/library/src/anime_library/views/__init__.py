"""Views: who watched what, counted once per window, and the public counts."""
