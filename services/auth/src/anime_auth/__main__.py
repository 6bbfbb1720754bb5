"""`python -m anime_auth` runs the auth service."""

from anime_auth.app import create_app
from anime_auth.settings import AuthSettings
from anime_common import run_service

if __name__ == "__main__":
    run_service(create_app, AuthSettings)
