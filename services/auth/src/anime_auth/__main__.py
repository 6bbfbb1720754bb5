"""`python -m anime_auth` runs the auth service; `python -m anime_auth create-user ...` makes
an account (see `anime_auth.cli`)."""

import sys

from anime_auth.app import create_app
from anime_auth.settings import AuthSettings
from anime_common import run_service

if __name__ == "__main__":
    if len(sys.argv) > 1:
        from anime_auth.cli import main

        sys.exit(main(sys.argv[1:]))
    run_service(create_app, AuthSettings)
