"""Authentication and scope.

OAuth2 bearer JWTs carry the caller's roles, an administrative-region scope (a code prefix: "22" is
the province, "220122" one county) and, for household users, their household id. Keys come from
configuration (HS256 secret or a PEM public key) or a JWKS URL, so a real identity provider plugs in.
`python -m shared.auth` issues development tokens.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections.abc import Awaitable, Callable, Iterable
from enum import StrEnum
from typing import Any

import jwt
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from shared.config import PlatformSettings, ServiceSettings
from shared.errors import Forbidden, ServiceUnavailable, Unauthorized


class Role(StrEnum):
    PROVINCIAL_SYSTEM = "provincial_system"
    PROVINCE_OPERATOR = "province_operator"
    COUNTY_OPERATOR = "county_operator"
    TOWNSHIP_OFFICER = "township_officer"
    VILLAGE_CADRE = "village_cadre"
    HOUSEHOLD = "household"
    AUDITOR = "auditor"
    ADMIN = "admin"
    SERVICE = "service"  # another service of this system


# Roles that work case by case with named people (home visits, approvals) see personal data in
# clear; the rest see it masked unless their token carries the explicit `pii:read` scope.
PII_ROLES = {Role.COUNTY_OPERATOR, Role.TOWNSHIP_OFFICER, Role.VILLAGE_CADRE, Role.HOUSEHOLD}
STAFF = {Role.PROVINCE_OPERATOR, Role.COUNTY_OPERATOR, Role.TOWNSHIP_OFFICER, Role.VILLAGE_CADRE}
READERS = STAFF | {Role.PROVINCIAL_SYSTEM, Role.AUDITOR, Role.ADMIN, Role.HOUSEHOLD, Role.SERVICE}
WRITERS = STAFF | {Role.PROVINCIAL_SYSTEM, Role.ADMIN}


class Principal(BaseModel):
    subject: str
    roles: frozenset[Role]
    region: str  # administrative-code prefix this caller may see
    household_id: str | None = None
    scopes: frozenset[str] = frozenset()

    @property
    def sees_personal_data(self) -> bool:
        return bool(self.roles & PII_ROLES) or "pii:read" in self.scopes

    @property
    def access_key(self) -> str:
        """What decides what this caller may see: subject and scope together. Stored results (idempotent
        responses, import jobs) are keyed on it, so a token with the same subject but another region,
        role or household never replays what the first one was allowed to see."""
        scope = "|".join(
            [
                self.subject,
                ",".join(sorted(self.roles)),
                self.region,
                self.household_id or "",
                "pii" if self.sees_personal_data else "masked",
            ]
        )
        return hashlib.sha256(scope.encode()).hexdigest()

    def covers_region(self, region_code: str) -> bool:
        return region_code.startswith(self.region)

    def region_filter(self, region_code: str | None) -> str:
        """The region prefix a list filtered by `region_code` reads: narrowed within the caller's scope; a
        filter outside it matches nothing (no region code starts with "x")."""
        if not region_code or self.region.startswith(region_code):
            return self.region
        return region_code if region_code.startswith(self.region) else "x"

    def may_see_household(self, household_id: str, region_code: str) -> bool:
        if self.roles == {Role.HOUSEHOLD}:
            return self.household_id == household_id
        return self.covers_region(region_code)


class Authenticator:
    # How long a request may wait for the identity provider's keys (PyJWKClient's default is 30 s).
    JWKS_TIMEOUT_SECONDS = 5

    def __init__(self, settings: PlatformSettings):
        self.settings = settings
        # The key set is cached for five minutes; a token naming an unknown key id fetches it again, so
        # the provider's key rotation needs no restart.
        self._jwks = (
            jwt.PyJWKClient(settings.jwks_url, timeout=self.JWKS_TIMEOUT_SECONDS) if settings.jwks_url else None
        )

    @property
    def fetches_keys(self) -> bool:
        """True if verifying may fetch keys over the network (blocking I/O: callers on an event loop
        run `verify` in a thread)."""
        return self._jwks is not None

    def _key(self, token: str) -> tuple[Any, list[str]]:
        if self._jwks:
            return self._jwks.get_signing_key_from_jwt(token).key, ["RS256", "ES256"]
        if self.settings.jwt_public_key:
            return self.settings.jwt_public_key, ["RS256", "ES256"]
        return self.settings.jwt_secret, ["HS256"]

    def verify(self, token: str) -> Principal:
        try:
            key, algorithms = self._key(token)
        except jwt.PyJWKClientConnectionError as exc:
            raise ServiceUnavailable(
                "the identity provider's signing keys cannot be fetched; try again shortly"
            ) from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid bearer token: {exc}") from exc
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                options={"require": ["exp", "sub", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid bearer token: {exc}") from exc
        try:
            roles = frozenset(Role(r) for r in claims.get("roles", []))
        except ValueError as exc:
            raise Unauthorized(f"token names an unknown role: {exc}") from exc
        if not roles:
            raise Unauthorized("token carries no role")
        region = str(claims.get("region", ""))
        if not region.isdigit() and not roles & {Role.ADMIN}:
            raise Unauthorized("token carries no administrative-region scope")
        if Role.HOUSEHOLD in roles and not claims.get("household_id"):
            raise Unauthorized("a household token must name its household")
        return Principal(
            subject=str(claims["sub"]),
            roles=roles,
            region=region,
            household_id=claims.get("household_id"),
            scopes=frozenset(str(claims.get("scope", "")).split()),
        )


def issue_token(
    settings: PlatformSettings,
    *,
    subject: str,
    roles: Iterable[str],
    region: str,
    household_id: str | None = None,
    scope: str = "",
    ttl_seconds: int = 8 * 3600,
) -> str:
    """Development tokens, signed with the configured HS256 secret."""
    if not settings.jwt_secret:
        raise RuntimeError("development tokens need JWT_SECRET")
    now = int(time.time())
    claims = {
        "sub": subject,
        "roles": [Role(r).value for r in roles],
        "region": region,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if household_id:
        claims["household_id"] = household_id
    if scope:
        claims["scope"] = scope
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


_bearer = HTTPBearer(auto_error=False)


def require(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """FastAPI dependency: an authenticated caller holding one of `roles` (any role if none named)."""
    wanted = set(roles)

    async def dependency(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
    ) -> Principal:
        if credentials is None:
            raise Unauthorized("this endpoint needs a bearer token")
        authenticator: Authenticator = request.app.state.authenticator
        if authenticator.fetches_keys:  # a slow identity provider must not stall every other request
            principal = await run_in_threadpool(authenticator.verify, credentials.credentials)
        else:
            principal = authenticator.verify(credentials.credentials)
        if wanted and not (principal.roles & wanted):
            raise Forbidden(f"this action needs one of the roles: {', '.join(sorted(wanted))}")
        request.state.principal = principal
        return principal

    dependency.allowed_roles = frozenset(wanted or Role)  # type: ignore[attr-defined]  # read by the authorization sweep
    return dependency


def main() -> None:
    parser = argparse.ArgumentParser(description="Issue a development bearer token.")
    parser.add_argument("--role", action="append", required=True, choices=[r.value for r in Role])
    parser.add_argument("--region", default="22", help="administrative-code prefix, e.g. 220122")
    parser.add_argument("--subject", default="dev-user")
    parser.add_argument("--household-id")
    parser.add_argument("--scope", default="")
    parser.add_argument("--ttl", type=int, default=8 * 3600)
    args = parser.parse_args()
    print(
        issue_token(
            PlatformSettings(),
            subject=args.subject,
            roles=args.role,
            region=args.region,
            household_id=args.household_id,
            scope=args.scope,
            ttl_seconds=args.ttl,
        )
    )


if __name__ == "__main__":
    main()


def service_token(settings: ServiceSettings) -> str:
    """The bearer token this service presents to the others: SERVICE_TOKEN, or (development) one minted
    with the development secret for the role `service` over the whole province."""
    return settings.service_token or issue_token(
        settings, subject=settings.service_name, roles=[Role.SERVICE.value], region="22", ttl_seconds=365 * 86400
    )
