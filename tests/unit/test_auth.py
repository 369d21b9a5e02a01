import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, FastAPI
from jwt.algorithms import RSAAlgorithm

from shared.auth import Authenticator, Principal, Role, require
from shared.config import PlatformSettings
from shared.errors import ServiceUnavailable, Unauthorized, install_error_handlers


def rsa_pair():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, public.decode()


def claims(**extra):
    now = int(time.time())
    base = {
        "sub": "u1",
        "roles": ["county_operator"],
        "region": "220122",
        "iss": "jilin-assistance",
        "aud": "jilin-assistance",
        "iat": now,
        "exp": now + 60,
    }
    base.update(extra)
    return base


def test_public_key_verification_from_an_identity_provider():
    key, public = rsa_pair()
    authenticator = Authenticator(PlatformSettings(jwt_public_key=public, jwt_secret=None))
    principal = authenticator.verify(jwt.encode(claims(), key, algorithm="RS256"))
    assert principal.roles == {Role.COUNTY_OPERATOR} and principal.covers_region("220122101")
    assert not principal.covers_region("220182")


@pytest.mark.parametrize(
    "bad",
    [
        claims(exp=int(time.time()) - 10),
        claims(aud="someone-else"),
        claims(roles=["emperor"]),
        claims(roles=[]),
        claims(region=None),
        claims(roles=["household"]),
    ],
)
def test_bad_tokens_are_refused(bad):
    settings = PlatformSettings()
    with pytest.raises(Unauthorized):
        Authenticator(settings).verify(
            jwt.encode({k: v for k, v in bad.items() if v is not None}, settings.jwt_secret, algorithm="HS256")
        )


def test_a_token_signed_with_another_key_is_refused():
    key, _ = rsa_pair()
    _, other_public = rsa_pair()
    with pytest.raises(Unauthorized):
        Authenticator(PlatformSettings(jwt_public_key=other_public)).verify(
            jwt.encode(claims(), key, algorithm="RS256")
        )


class IdentityProvider:
    """A JWKS endpoint on a local port, serving whichever keys the test puts in `keys`."""

    def __init__(self):
        provider = self
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.fetches = 0

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                provider.fetches += 1
                body = json.dumps(
                    {
                        "keys": [
                            {
                                **json.loads(RSAAlgorithm.to_jwk(key.public_key())),
                                "kid": kid,
                                "use": "sig",
                                "alg": "RS256",
                            }
                            for kid, key in provider.keys.items()
                        ]
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/.well-known/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, kid: str, **extra) -> str:
        return jwt.encode(claims(**extra), self.keys[kid], algorithm="RS256", headers={"kid": kid})

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def identity_provider():
    provider = IdentityProvider()
    yield provider
    provider.stop()


def test_jwks_keys_verify_tokens_and_a_rotated_key_is_picked_up(identity_provider):
    identity_provider.keys["2026-a"] = rsa_pair()[0]
    authenticator = Authenticator(PlatformSettings(jwks_url=identity_provider.url, jwt_secret=None))
    assert authenticator.fetches_keys
    assert authenticator.verify(identity_provider.token("2026-a")).roles == {Role.COUNTY_OPERATOR}
    authenticator.verify(identity_provider.token("2026-a"))
    assert identity_provider.fetches == 1  # the key set is cached

    identity_provider.keys["2026-b"] = rsa_pair()[0]  # the provider rotates its signing key
    assert authenticator.verify(identity_provider.token("2026-b", sub="u2")).subject == "u2"
    assert identity_provider.fetches == 2


def test_jwks_refuses_unknown_keys_and_forged_signatures(identity_provider):
    identity_provider.keys["2026-a"] = rsa_pair()[0]
    authenticator = Authenticator(PlatformSettings(jwks_url=identity_provider.url, jwt_secret=None))
    forged = jwt.encode(claims(), rsa_pair()[0], algorithm="RS256", headers={"kid": "2026-a"})
    unknown = jwt.encode(claims(), rsa_pair()[0], algorithm="RS256", headers={"kid": "not-published"})
    hs256 = jwt.encode(claims(), "a-shared-secret", algorithm="HS256", headers={"kid": "2026-a"})
    for token in (forged, unknown, hs256):
        with pytest.raises(Unauthorized):
            authenticator.verify(token)


def test_an_unreachable_identity_provider_is_a_503_not_a_401(identity_provider):
    identity_provider.keys["2026-a"] = rsa_pair()[0]
    token = identity_provider.token("2026-a")
    authenticator = Authenticator(PlatformSettings(jwks_url=identity_provider.url, jwt_secret=None))
    identity_provider.stop()
    with pytest.raises(ServiceUnavailable) as raised:
        authenticator.verify(token)
    assert raised.value.status == 503 and raised.value.headers["Retry-After"]


async def test_over_http_jwks_tokens_are_verified_off_the_event_loop_and_an_outage_is_problem_json(identity_provider):
    identity_provider.keys["2026-a"] = rsa_pair()[0]
    app = FastAPI()
    install_error_handlers(app)
    app.state.authenticator = Authenticator(PlatformSettings(jwks_url=identity_provider.url, jwt_secret=None))
    loops = []

    @app.get("/who")
    async def who(principal: Principal = Depends(require(Role.COUNTY_OPERATOR))):
        return {"subject": principal.subject}

    real_verify = app.state.authenticator.verify

    def verify(token):
        loops.append(asyncio_running())
        return real_verify(token)

    app.state.authenticator.verify = verify
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        ok = await http.get("/who", headers={"Authorization": f"Bearer {identity_provider.token('2026-a')}"})
        assert ok.status_code == 200 and ok.json() == {"subject": "u1"}
        assert loops == [False]  # verified in a worker thread: a slow provider stalls no other request
        identity_provider.stop()
        app.state.authenticator = Authenticator(PlatformSettings(jwks_url=identity_provider.url, jwt_secret=None))
        down = await http.get("/who", headers={"Authorization": f"Bearer {identity_provider.token('2026-a')}"})
    assert down.status_code == 503 and down.headers["content-type"] == "application/problem+json"
    assert down.headers["Retry-After"] and "identity provider" in down.json()["detail"]


def asyncio_running() -> bool:
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False


def test_production_settings_need_their_own_keys(monkeypatch):
    import pytest

    from shared.config import DEV_JWT_SECRET, ServiceSettings

    for name in ("JWT_SECRET", "JWT_PUBLIC_KEY", "JWKS_URL", "PII_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENVIRONMENT", "production")
    real_key = "cmVhbC1wcm9kdWN0aW9uLWtleS0wMTIzNDU2Nzg5YWI="
    with pytest.raises(RuntimeError, match="token keys"):
        ServiceSettings.load("registry", pii_key=real_key)  # the development secret alone
    with pytest.raises(RuntimeError, match="PII_KEY"):
        ServiceSettings.load("registry", jwks_url="https://idp.example/jwks")
    only_jwks = ServiceSettings.load("registry", jwks_url="https://idp.example/jwks", pii_key=real_key)
    assert only_jwks.jwt_secret is None  # tokens signed with the development secret are not accepted
    monkeypatch.setenv("JWT_SECRET", "")
    monkeypatch.setenv("JWKS_URL", "")
    with pytest.raises(RuntimeError, match="token keys"):
        ServiceSettings.load("registry", pii_key=real_key)
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.delenv("JWT_SECRET")
    monkeypatch.delenv("JWKS_URL")
    assert ServiceSettings.load("registry").jwt_secret == DEV_JWT_SECRET
