"""`python -m anime_catalog` runs the catalog service."""

from anime_catalog.app import create_app
from anime_catalog.settings import CatalogSettings
from anime_common import run_service

if __name__ == "__main__":
    run_service(create_app, CatalogSettings)
