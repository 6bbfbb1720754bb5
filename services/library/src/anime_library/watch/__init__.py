"""Watch progress: where a user is in each episode, and what to continue; written by jobs."""
