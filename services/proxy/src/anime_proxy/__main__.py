"""`python -m anime_proxy` runs the proxy service."""

from anime_common import run_service
from anime_proxy.app import create_app
from anime_proxy.settings import ProxySettings

if __name__ == "__main__":
    run_service(create_app, ProxySettings)
