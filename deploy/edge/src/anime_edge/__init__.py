"""The gateway's error pages: edge-made errors rendered in the API's JSON envelope.

Traefik cannot write a JSON body itself, so its `errors` middleware and its
catch-all router fetch the body from this app. It is a process of its own, with
no database, so the page for "backend down" never depends on the backend that
is down.
"""

from anime_edge.app import create_app

__all__ = ["create_app"]
