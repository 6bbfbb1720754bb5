"""Calls from one service to another's endpoints, and the one meaning of each way they fail.

Every peer call (library→catalog, media→auth, catalog→proxy, proxy→catalog,
the revocation poller→auth) goes through `ServiceClient`:

- a service token signed as the calling service, re-signed before it expires;
- the id of the request being served passed on (`X-Request-ID`);
- the process's connect/read timeouts, or the ones given;
- idempotent requests retried on a failure to connect or a dropped connection,
  never after a read timeout (a slow peer asked twice is twice as slow);
- failures mapped once: no answer in time → 504 `PeerTimeoutError`; refused,
  unresolvable, dropped, or any 5xx answer → 503 `PeerUnavailableError` with
  `Retry-After`; both name the peer ("The catalog is unavailable"), and say in
  `details.service` which service it was, so a caller one hop further names the
  service that is really down instead of the one in between.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import httpx

from anime_common._errors import BadGatewayError, GatewayTimeoutError, ServiceUnavailableError
from anime_common._request_id import REQUEST_ID_HEADER, current_request_id
from anime_common._security import TokenVerifier

logger = logging.getLogger("anime_common.service_client")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_AFTER_SECONDS = 5
_TOKEN_LIFETIME = 300
_TOKEN_REUSE = 240  # re-sign a minute before the peer would refuse it
# Failures that happen before a request is on the wire: the peer certainly did nothing.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def _peer_details(service: str) -> dict[str, str]:
    return {"service": service}


class PeerUnavailableError(ServiceUnavailableError):
    """A peer service could not be reached or answered 5xx; try again after `Retry-After`.

    `may_have_applied`: the request may have been carried out (the connection
    dropped after it was sent). `peer_status`: the peer's status, if it answered.
    """

    def __init__(
        self, service: str, *, may_have_applied: bool = False, peer_status: int | None = None
    ) -> None:
        super().__init__(
            f"The {service} is unavailable",
            details=_peer_details(service),
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
        self.service = service
        self.may_have_applied = may_have_applied
        self.peer_status = peer_status


class PeerTimeoutError(GatewayTimeoutError):
    """A peer service did not answer in time; what was sent may have been carried out."""

    may_have_applied = True

    def __init__(self, service: str) -> None:
        super().__init__(f"The {service} did not answer in time", details=_peer_details(service))
        self.service = service


class PeerAnswerError(BadGatewayError):
    """A peer answered something it should not have (a shape or a status off its contract)."""

    def __init__(self, service: str, what: str = "an unexpected answer") -> None:
        super().__init__(f"The {service} sent {what}", details=_peer_details(service))
        self.service = service


def _named_service(response: httpx.Response) -> str | None:
    """The service a peer's own error envelope says is down (`details.service`), if any."""
    try:
        body = response.json()
    except ValueError:
        return None
    details = body.get("details") if isinstance(body, dict) else None
    named = details.get("service") if isinstance(details, dict) else None
    return named if isinstance(named, str) and 0 < len(named) <= 100 else None


class ServiceClient:
    """One peer service at `base_url`, called as `caller` over the process's shared client.

    `service` is the peer as users read it in a message ("catalog", "account service");
    `caller` the name the service token is signed for.
    """

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        base_url: str,
        service: str,
        caller: str,
        verifier: TokenVerifier,
        timeout: httpx.Timeout | None = None,
        retries: int = 1,
        log_failures: bool = True,
    ) -> None:
        self._http = http
        self.base_url = base_url.rstrip("/")
        self.service = service
        self._caller = caller
        self._verifier = verifier
        self._timeout = timeout
        self._retries = retries
        # Off for a caller that reports failures its own way (once, not every poll).
        self._log = logger.warning if log_failures else logger.debug
        self._token: tuple[float, str] | None = None

    def service_token(self) -> str:
        now = time.monotonic()
        if self._token is None or self._token[0] < now:
            token = self._verifier.issue_service_token(self._caller, expires_in=_TOKEN_LIFETIME)
            self._token = (now + _TOKEN_REUSE, token)
        return self._token[1]

    def _headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.service_token()}"}
        request_id = current_request_id()
        if request_id:
            headers[REQUEST_ID_HEADER] = request_id
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """The peer's answer below 500; any other outcome raised as a Peer*Error.

        `idempotent`: whether a retry is safe; by default, what the method says
        (a POST that only reads, such as a batch lookup, may say True).
        """
        retryable = method.upper() in IDEMPOTENT_METHODS if idempotent is None else idempotent
        attempts = 1 + (self._retries if retryable else 0)
        extra: dict[str, Any] = {} if self._timeout is None else {"timeout": self._timeout}
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.request(
                    method,
                    f"{self.base_url}{path}",
                    json=json,
                    params=params,
                    headers=self._headers(),
                    **extra,
                )
            except httpx.TimeoutException as exc:
                if isinstance(exc, _NOT_SENT) and attempt < attempts:
                    continue
                self._log("%s %s %s: %r", self.service, method, path, exc)
                if isinstance(exc, _NOT_SENT):
                    raise PeerUnavailableError(self.service) from exc
                raise PeerTimeoutError(self.service) from exc
            except httpx.HTTPError as exc:
                if attempt < attempts:
                    continue
                self._log("%s %s %s: %r", self.service, method, path, exc)
                raise PeerUnavailableError(
                    self.service, may_have_applied=not isinstance(exc, _NOT_SENT)
                ) from exc
            if response.status_code < 500:
                return response
            self._log("%s %s %s answered %d", self.service, method, path, response.status_code)
            # The peer is up: name what it says it could not reach, when it says so.
            raise PeerUnavailableError(
                _named_service(response) or self.service, peer_status=response.status_code
            )

    async def get(self, path: str, *, params: Mapping[str, Any] | None = None) -> httpx.Response:
        return await self.request("GET", path, params=params)

    async def put(self, path: str, *, json: Any = None) -> httpx.Response:
        return await self.request("PUT", path, json=json)

    async def post(
        self, path: str, *, json: Any = None, idempotent: bool = False
    ) -> httpx.Response:
        return await self.request("POST", path, json=json, idempotent=idempotent)

    def json(self, response: httpx.Response) -> Any:
        """The body of an answer, or `PeerAnswerError` when it is not JSON."""
        try:
            return response.json()
        except ValueError as exc:
            raise PeerAnswerError(self.service, "an invalid answer") from exc

    def unexpected(self, response: httpx.Response) -> PeerAnswerError:
        """The error for a status off the peer's contract (a 401 is our misconfiguration)."""
        self._log("%s answered %d, off its contract", self.service, response.status_code)
        return PeerAnswerError(self.service, f"an unexpected answer ({response.status_code})")
