"""`python -m anime_media` runs the media service."""

from anime_common import run_service
from anime_media.app import create_app
from anime_media.settings import MediaSettings

if __name__ == "__main__":
    run_service(create_app, MediaSettings)
