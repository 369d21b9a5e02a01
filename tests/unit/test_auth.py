import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.auth import Authenticator, Role
from shared.config import PlatformSettings
from shared.errors import Unauthorized


def rsa_pair():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, public.decode()


def claims(**extra):
    now = int(time.time())
    base = {"sub": "u1", "roles": ["county_operator"], "region": "220122", "iss": "jilin-assistance",
            "aud": "jilin-assistance", "iat": now, "exp": now + 60}
    base.update(extra)
    return base


def test_public_key_verification_from_an_identity_provider():
    key, public = rsa_pair()
    authenticator = Authenticator(PlatformSettings(jwt_public_key=public, jwt_secret=None))
    principal = authenticator.verify(jwt.encode(claims(), key, algorithm="RS256"))
    assert principal.roles == {Role.COUNTY_OPERATOR} and principal.covers_region("220122101")
    assert not principal.covers_region("220182")


@pytest.mark.parametrize("bad", [
    claims(exp=int(time.time()) - 10), claims(aud="someone-else"), claims(roles=["emperor"]), claims(roles=[]),
    claims(region=None), claims(roles=["household"]),
])
def test_bad_tokens_are_refused(bad):
    settings = PlatformSettings()
    with pytest.raises(Unauthorized):
        Authenticator(settings).verify(jwt.encode({k: v for k, v in bad.items() if v is not None},
                                                  settings.jwt_secret, algorithm="HS256"))


def test_a_token_signed_with_another_key_is_refused():
    key, _ = rsa_pair()
    _, other_public = rsa_pair()
    with pytest.raises(Unauthorized):
        Authenticator(PlatformSettings(jwt_public_key=other_public)).verify(jwt.encode(claims(), key, algorithm="RS256"))
