"""Decodes Gatehouse's answers with Ory's published Python SDK (`ory-kratos-client` on PyPI).

Its models are pydantic with strict enums: a field, node type, attribute or enum value a
release does not know makes it refuse the whole answer. The script walks every flow kind and
the admin API as a native app and an operator would, decoding each answer (also the error
bodies, as the flow or error they are), and prints one JSON line: what decoded, and what did
not with the reason.

Usage: decode.py <public URL> <admin URL> <identifier> <password>; the identity exists with that
password (and, ideally, every other credential, so every node kind shows up).
"""

import json
import sys
import traceback

import ory_kratos_client as ory
from ory_kratos_client.rest import ApiException

public_url, admin_url, identifier, password = sys.argv[1:5]
public = ory.FrontendApi(ory.ApiClient(ory.Configuration(host=public_url)))
admin = ory.IdentityApi(ory.ApiClient(ory.Configuration(host=admin_url)))

decoded = []
failed = {}


def step(name, call, error_model=None):
    """Runs `call`; an ApiException's body is decoded as `error_model` (a flow answered with
    400 is still a flow)."""
    try:
        value = call()
        decoded.append(name)
        return value
    except ApiException as e:
        if error_model is None:
            failed[name] = f"HTTP {e.status}: {e.body}"
            return None
        try:
            value = error_model.from_json(e.body)
            decoded.append(name)
            return value
        except Exception as inner:  # noqa: BLE001 - the reason is what we report
            failed[name] = f"HTTP {e.status} body does not decode as {error_model.__name__}: {inner}: {e.body}"
            return None
    except Exception:  # noqa: BLE001
        failed[name] = traceback.format_exc(limit=3)
        return None


def password_login(flow_id, secret):
    body = ory.UpdateLoginFlowBody(
        ory.UpdateLoginFlowWithPasswordMethod(method="password", identifier=identifier, password=secret)
    )
    return public.update_login_flow(flow=flow_id, update_login_flow_body=body)


# Login: a flow, a wrong password (the flow again, with a message), the right one.
login = step("create_native_login_flow", public.create_native_login_flow)
if login:
    step("get_login_flow", lambda: public.get_login_flow(id=login.id))
    step("update_login_flow (wrong password)", lambda: password_login(login.id, "wrong-password-0"), ory.LoginFlow)
login = step("create_native_login_flow (again)", public.create_native_login_flow)
done = login and step("update_login_flow", lambda: password_login(login.id, password))
token = done.session_token if done else None

if token:
    step("to_session", lambda: public.to_session(x_session_token=token))
    step("list_my_sessions", lambda: public.list_my_sessions(x_session_token=token))
    # Settings: every method's nodes for this identity.
    settings = step("create_native_settings_flow", lambda: public.create_native_settings_flow(x_session_token=token))
    if settings:
        step("get_settings_flow", lambda: public.get_settings_flow(id=settings.id, x_session_token=token))
        body = ory.UpdateSettingsFlowBody(
            ory.UpdateSettingsFlowWithPasswordMethod(method="password", password="short")
        )
        step(
            "update_settings_flow (weak password)",
            lambda: public.update_settings_flow(flow=settings.id, update_settings_flow_body=body, x_session_token=token),
            ory.SettingsFlow,
        )

# Registration: a flow, and a submission the schema refuses.
reg = step("create_native_registration_flow", public.create_native_registration_flow)
if reg:
    step("get_registration_flow", lambda: public.get_registration_flow(id=reg.id))
    body = ory.UpdateRegistrationFlowBody(
        ory.UpdateRegistrationFlowWithPasswordMethod(
            method="password", password="a-long-and-good-passphrase-42", traits={"email": "not-an-email"}
        )
    )
    step(
        "update_registration_flow (invalid traits)",
        lambda: public.update_registration_flow(flow=reg.id, update_registration_flow_body=body),
        ory.RegistrationFlow,
    )

# Recovery and verification: a flow, and a code sent.
rec = step("create_native_recovery_flow", public.create_native_recovery_flow)
if rec:
    step("get_recovery_flow", lambda: public.get_recovery_flow(id=rec.id))
    body = ory.UpdateRecoveryFlowBody(ory.UpdateRecoveryFlowWithCodeMethod(method="code", email=identifier))
    step("update_recovery_flow", lambda: public.update_recovery_flow(flow=rec.id, update_recovery_flow_body=body), ory.RecoveryFlow)
ver = step("create_native_verification_flow", public.create_native_verification_flow)
if ver:
    step("get_verification_flow", lambda: public.get_verification_flow(id=ver.id))
    body = ory.UpdateVerificationFlowBody(ory.UpdateVerificationFlowWithCodeMethod(method="code", email=identifier))
    step(
        "update_verification_flow",
        lambda: public.update_verification_flow(flow=ver.id, update_verification_flow_body=body),
        ory.VerificationFlow,
    )

# The admin API.
found = step("list_identities", lambda: admin.list_identities(credentials_identifier=identifier))
if found:
    identity_id = found[0].id
    step(
        "get_identity (all credentials)",
        lambda: admin.get_identity(
            id=identity_id, include_credential=["password", "totp", "lookup_secret", "webauthn", "passkey", "oidc"]
        ),
    )
    step("list_identity_sessions", lambda: admin.list_identity_sessions(id=identity_id))
    step(
        "create_recovery_code_for_identity",
        lambda: admin.create_recovery_code_for_identity(
            create_recovery_code_for_identity_body=ory.CreateRecoveryCodeForIdentityBody(identity_id=identity_id)
        ),
    )
step("list_identity_schemas", admin.list_identity_schemas)
step("list_sessions", lambda: admin.list_sessions(expand=["identity"]))

if token:
    step(
        "perform_native_logout",
        lambda: public.perform_native_logout(perform_native_logout_body=ory.PerformNativeLogoutBody(session_token=token)),
    )

print(json.dumps({"sdk": ory.__version__, "decoded": decoded, "failed": failed}))
