"""The soft authenticator's responses verify against py_webauthn, and each override breaks them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.authentication.verify_authentication_response import VerifiedAuthentication
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import CredentialDeviceType, PublicKeyCredentialDescriptor
from webauthn.registration.verify_registration_response import VerifiedRegistration

from tests.softauthn import SoftAuthenticator, SoftAuthenticatorError, b64url, b64url_decode

RP_ID = "keyfob.test"
ORIGIN = "https://keyfob.test"
USER_ID = b"user-handle-0001"


def _reg_options(exclude: list[bytes] | None = None) -> dict[str, Any]:
    opts = generate_registration_options(
        rp_id=RP_ID,
        rp_name="Keyfob",
        user_id=USER_ID,
        user_name="ada@example.com",
        exclude_credentials=[PublicKeyCredentialDescriptor(id=i) for i in exclude or []],
    )
    result: dict[str, Any] = json.loads(options_to_json(opts))
    return result


def _auth_options(allow: list[bytes] | None = None) -> dict[str, Any]:
    opts = generate_authentication_options(
        rp_id=RP_ID,
        allow_credentials=[PublicKeyCredentialDescriptor(id=i) for i in allow or []],
    )
    result: dict[str, Any] = json.loads(options_to_json(opts))
    return result


def _verify_reg(options: dict[str, Any], response: dict[str, Any]) -> VerifiedRegistration:
    return verify_registration_response(
        credential=response,
        expected_challenge=b64url_decode(options["challenge"]),
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        require_user_verification=True,
    )


def _verify_auth(
    options: dict[str, Any], response: dict[str, Any], reg: VerifiedRegistration, count: int
) -> VerifiedAuthentication:
    return verify_authentication_response(
        credential=response,
        expected_challenge=b64url_decode(options["challenge"]),
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        credential_public_key=reg.credential_public_key,
        credential_current_sign_count=count,
        require_user_verification=True,
    )


def _register(auth: SoftAuthenticator) -> VerifiedRegistration:
    options = _reg_options()
    return _verify_reg(options, auth.create(options, origin=ORIGIN))


def test_b64url_round_trip_without_padding() -> None:
    for n in range(6):
        data = bytes(range(250, 250 + n)) if n else b""
        encoded = b64url(data)
        assert "=" not in encoded
        assert b64url_decode(encoded) == data


def test_registration_verifies_and_key_verifies_assertion() -> None:
    auth = SoftAuthenticator()
    options = _reg_options()
    response = auth.create(options, origin=ORIGIN)
    reg = _verify_reg(options, response)

    [cred] = auth.credentials
    assert reg.credential_id == cred.id == b64url_decode(response["rawId"])
    assert response["id"] == response["rawId"]
    assert len(cred.id) == 16
    assert cred.rp_id == RP_ID
    assert cred.user_handle == USER_ID
    assert reg.fmt == "none"
    assert reg.user_verified is True
    assert reg.sign_count == 0
    assert reg.aaguid == "00000000-0000-0000-0000-000000000000"

    login = _auth_options()
    assertion = auth.get(login, origin=ORIGIN)
    assert b64url_decode(assertion["response"]["userHandle"]) == USER_ID
    verified = _verify_auth(login, assertion, reg, 0)
    assert verified.credential_id == cred.id
    assert verified.user_verified is True


def test_credential_id_and_aaguid_are_honoured() -> None:
    aaguid = bytes.fromhex("ea9b8d664d011d213ce4b6b48cb575d4")
    auth = SoftAuthenticator(aaguid=aaguid)
    options = _reg_options()
    reg = _verify_reg(options, auth.create(options, origin=ORIGIN, credential_id=b"fixed-id"))
    assert reg.credential_id == b"fixed-id"
    assert reg.aaguid == "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4"


def test_sign_count_grows_with_each_assertion() -> None:
    auth = SoftAuthenticator(sign_count_step=3)
    reg = _register(auth)
    count = reg.sign_count
    for expected in (3, 6, 9):
        login = _auth_options()
        verified = _verify_auth(login, auth.get(login, origin=ORIGIN), reg, count)
        assert verified.new_sign_count == expected
        count = verified.new_sign_count
    assert auth.credentials[0].sign_count == 9


def test_zero_sign_count_step_stays_at_zero_and_verifies() -> None:
    auth = SoftAuthenticator(sign_count_step=0)
    reg = _register(auth)
    for _ in range(3):
        login = _auth_options()
        verified = _verify_auth(login, auth.get(login, origin=ORIGIN), reg, 0)
        assert verified.new_sign_count == 0


def test_forced_sign_count_that_goes_backwards_is_rejected() -> None:
    auth = SoftAuthenticator()
    reg = _register(auth)
    login = _auth_options()
    _verify_auth(login, auth.get(login, origin=ORIGIN, sign_count=5), reg, 0)
    login = _auth_options()
    with pytest.raises(InvalidAuthenticationResponse, match="sign count"):
        _verify_auth(login, auth.get(login, origin=ORIGIN, sign_count=4), reg, 5)


@pytest.mark.parametrize(
    ("eligible", "backed_up", "device_type"),
    [
        (False, False, CredentialDeviceType.SINGLE_DEVICE),
        (True, False, CredentialDeviceType.MULTI_DEVICE),
        (True, True, CredentialDeviceType.MULTI_DEVICE),
    ],
)
def test_backup_flags_come_through(
    eligible: bool, backed_up: bool, device_type: CredentialDeviceType
) -> None:
    auth = SoftAuthenticator(backup_eligible=eligible, backed_up=backed_up)
    reg = _register(auth)
    assert reg.credential_device_type == device_type
    assert reg.credential_backed_up is backed_up
    login = _auth_options()
    verified = _verify_auth(login, auth.get(login, origin=ORIGIN), reg, 0)
    assert verified.credential_device_type == device_type
    assert verified.credential_backed_up is backed_up


def test_create_refuses_an_excluded_credential() -> None:
    auth = SoftAuthenticator()
    _register(auth)
    with pytest.raises(SoftAuthenticatorError):
        auth.create(_reg_options(exclude=[auth.credentials[0].id]), origin=ORIGIN)
    assert len(auth.credentials) == 1
    auth.create(_reg_options(exclude=[b"someone-elses"]), origin=ORIGIN)
    assert len(auth.credentials) == 2


def test_get_picks_allowed_or_most_recent_credential() -> None:
    auth = SoftAuthenticator()
    first = _register(auth)
    second = _register(auth)
    assert auth.get(_auth_options(), origin=ORIGIN)["rawId"] == b64url(second.credential_id)
    allowed = auth.get(_auth_options(allow=[first.credential_id]), origin=ORIGIN)
    assert allowed["rawId"] == b64url(first.credential_id)
    with pytest.raises(SoftAuthenticatorError):
        auth.get(_auth_options(allow=[b"unknown"]), origin=ORIGIN)


def test_get_without_a_credential_for_the_rp_raises() -> None:
    auth = SoftAuthenticator()
    with pytest.raises(SoftAuthenticatorError):
        auth.get(_auth_options(), origin=ORIGIN)
    _register(auth)
    other = {**_auth_options(), "rpId": "elsewhere.test"}
    with pytest.raises(SoftAuthenticatorError):
        auth.get(other, origin="https://elsewhere.test")


def test_forced_credential_is_used_and_fails_against_another_key() -> None:
    auth = SoftAuthenticator()
    reg = _register(auth)
    _register(auth)
    login = _auth_options()
    forced = auth.get(login, origin=ORIGIN, credential=auth.credentials[0])
    assert forced["rawId"] == b64url(reg.credential_id)
    _verify_auth(login, forced, reg, 0)
    login = _auth_options()
    wrong = auth.get(login, origin=ORIGIN, credential=auth.credentials[1])
    with pytest.raises(InvalidAuthenticationResponse, match="signature"):
        _verify_auth(login, wrong, reg, 0)


BAD: list[tuple[str, dict[str, Any]]] = [
    ("RP ID", {"rp_id": "evil.test"}),
    ("origin", {"origin": "https://evil.test"}),
    ("challenge", {"challenge": b64url(b"not the challenge")}),
    ("verif", {"user_verified": False}),
]


@pytest.mark.parametrize(("match", "override"), BAD, ids=[m for m, _ in BAD])
def test_registration_override_is_rejected(match: str, override: dict[str, Any]) -> None:
    auth = SoftAuthenticator()
    options = _reg_options()
    kwargs = {"origin": ORIGIN, **override}
    with pytest.raises(InvalidRegistrationResponse, match=f"(?i){match}"):
        _verify_reg(options, auth.create(options, **kwargs))


@pytest.mark.parametrize(("match", "override"), BAD, ids=[m for m, _ in BAD])
def test_authentication_override_is_rejected(match: str, override: dict[str, Any]) -> None:
    auth = SoftAuthenticator()
    reg = _register(auth)
    login = _auth_options()
    kwargs = {"origin": ORIGIN, **override}
    with pytest.raises(InvalidAuthenticationResponse, match=f"(?i){match}"):
        _verify_auth(login, auth.get(login, **kwargs), reg, 0)


def test_get_type_in_a_create_is_rejected() -> None:
    auth = SoftAuthenticator()
    options = _reg_options()
    with pytest.raises(InvalidRegistrationResponse, match="type"):
        _verify_reg(options, auth.create(options, origin=ORIGIN, client_type="webauthn.get"))


def test_create_type_in_a_get_is_rejected() -> None:
    auth = SoftAuthenticator()
    reg = _register(auth)
    login = _auth_options()
    assertion = auth.get(login, origin=ORIGIN, client_type="webauthn.create")
    with pytest.raises(InvalidAuthenticationResponse, match="type"):
        _verify_auth(login, assertion, reg, 0)


def test_authenticator_without_uv_fails_required_verification() -> None:
    auth = SoftAuthenticator(user_verified=False)
    options = _reg_options()
    with pytest.raises(InvalidRegistrationResponse, match="verif"):
        _verify_reg(options, auth.create(options, origin=ORIGIN))
    reg = _verify_reg(options, auth.create(options, origin=ORIGIN, user_verified=True))
    login = _auth_options()
    with pytest.raises(InvalidAuthenticationResponse, match="verif"):
        _verify_auth(login, auth.get(login, origin=ORIGIN), reg, 0)
