"""`python -m anime_library` runs the library service."""

from anime_common import run_service
from anime_library.app import create_app
from anime_library.settings import LibrarySettings

if __name__ == "__main__":
    run_service(create_app, LibrarySettings)
