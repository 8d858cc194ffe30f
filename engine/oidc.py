"""Signing in through an OpenID Connect provider (统一身份认证: Keycloak, MaxKey, …), beside the
local accounts.

- `Config`: the provider and how its claims map to a Duban person and roles, from the TOML
  file `DUBAN_OIDC_CONFIG` names (config/oidc.example.toml); a bad file is Misconfigured,
  naming the key.
- `Provider`: the protocol (authlib's OAuth 2 client; the ID token checked with joserfc,
  authlib's JOSE library): discovery from `{issuer}/.well-known/openid-configuration`, the
  authorization code flow with PKCE (S256), `state` and `nonce`, the token exchange, the ID
  token's signature (the provider's JWKS), `iss`, `aud`, `exp` and `nonce`, and the userinfo
  endpoint when the ID token lacks a claim the mapping needs. Every request to the provider
  gives up after `timeout` seconds (ProviderError "unreachable").
- `sign_in`, `complete`, `confirm_enrolment`: the sign-in itself, one transaction each: the
  identity is admitted (engine/external_accounts.py), then the second factor where the
  security policy asks for one, unless the provider says (`amr`) that the person gave one
  there. Refusals are security events (sign_in, failure, method "oidc", the reason).

No Flask here: web/ui/oidc.py is the door.
"""
from __future__ import annotations

import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from . import clock, second_factor, security_log
from . import sign_in as guarded
from .errors import Locked, Misconfigured
from .external_accounts import Identity, NotAdmitted, admit
from .models import Role, User
from .models.sign_in import SignInThrottle
from .security_log import Kind

ENV = "DUBAN_OIDC_CONFIG"
ORIGIN = "oidc"
DEFAULT_SCOPES = ("openid", "profile", "email")
DEFAULT_MFA_AMR = ("mfa", "otp", "hwk", "swk")
ATTRIBUTES = {"username": "preferred_username", "name": "name", "email": "email",
              "employee_number": "employee_number", "groups": "groups"}
KEYS = {"issuer", "client_id", "client_secret", "scopes", "redirect_uri", "attributes", "group_mappings",
        "button_label", "mfa_amr", "post_logout_redirect_uri", "timeout"}
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
EVERYONE = "*"


# -- configuration -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    issuer: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    redirect_uri: str | None = None
    attributes: dict = field(default_factory=lambda: dict(ATTRIBUTES))
    group_mappings: tuple[tuple[str, Role], ...] = ()
    button_label: str | None = None
    mfa_amr: tuple[str, ...] = DEFAULT_MFA_AMR
    post_logout_redirect_uri: str | None = None
    timeout: float = 5.0

    @property
    def origin(self) -> str:
        """scheme://host[:port] of the issuer (the sign-out form posts on to it)."""
        parts = urlsplit(self.issuer)
        return f"{parts.scheme}://{parts.netloc}"

    def roles(self, groups) -> frozenset[Role]:
        if isinstance(groups, str):
            groups = [groups]
        held = {str(g) for g in groups or ()}
        return frozenset(role for group, role in self.group_mappings if group == EVERYONE or group in held)

    def identity(self, claims: dict) -> Identity:
        """The person the claims describe; ClaimsMissing when `sub` or the login name is absent."""
        names = self.attributes
        sub = claims.get("sub")
        username = _text(claims.get(names["username"]))
        if not sub or not username:
            missing = "sub" if not sub else names["username"]
            raise ClaimsMissing(f"the provider's answer has no {missing!r} claim", missing)
        return Identity(origin=ORIGIN, external_id=str(sub), username=username[:60],
                        display_name=(_text(claims.get(names["name"])) or username)[:60],
                        email=_text(claims.get(names["email"])) or None,
                        employee_number=_text(claims.get(names["employee_number"])) or None,
                        roles=self.roles(claims.get(names["groups"])))

    def second_factor_given(self, claims: dict) -> str | None:
        """The first `amr` value of the ID token that counts as a second factor, if any."""
        amr = claims.get("amr") or []
        if isinstance(amr, str):
            amr = [amr]
        return next((str(value) for value in amr if str(value) in self.mfa_amr), None)


def _text(value) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value).strip() if value is not None else ""


def _bad(key: str, reason: str, source: str) -> Misconfigured:
    return Misconfigured(f"{source}: {key}: {reason}", {key: [reason]})


def load(path: str | Path) -> Config:
    source = str(path)
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as error:
        raise Misconfigured(f"{ENV}={source}: cannot read it ({error.strerror})", {ENV: [str(error)]}) from None
    except tomllib.TOMLDecodeError as error:
        raise Misconfigured(f"{source} is not TOML: {error}", {ENV: [str(error)]}) from None
    return parse(data, source)


def parse(data: dict, source: str = "oidc.toml") -> Config:
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise _bad(unknown[0], f"unknown key (known: {', '.join(sorted(KEYS))})", source)

    def text(key: str, required: bool = False) -> str | None:
        value = data.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise _bad(key, "is required", source)
            return None
        if not isinstance(value, str):
            raise _bad(key, "must be a string", source)
        return value.strip()

    def url(key: str, required: bool = False) -> str | None:
        value = text(key, required)
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise _bad(key, f"must be an http(s) URL, not {value!r}", source)
        return value

    def strings(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = data.get(key, list(default))
        if isinstance(value, str):
            value = value.split()
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise _bad(key, "must be a list of strings", source)
        return tuple(v.strip() for v in value)

    issuer = url("issuer", True).rstrip("/")
    scopes = strings("scopes", DEFAULT_SCOPES)
    if "openid" not in scopes:
        raise _bad("scopes", "must include openid", source)
    attributes = dict(ATTRIBUTES)
    given = data.get("attributes", {})
    if not isinstance(given, dict):
        raise _bad("attributes", "must be a table ([attributes])", source)
    for name, claim in given.items():
        if name not in ATTRIBUTES:
            raise _bad(f"attributes.{name}", f"unknown attribute (known: {', '.join(ATTRIBUTES)})", source)
        if not isinstance(claim, str) or not claim.strip():
            raise _bad(f"attributes.{name}", "must be a claim name", source)
        attributes[name] = claim.strip()
    mappings = data.get("group_mappings", [])
    if not isinstance(mappings, list) or not mappings:
        raise _bad("group_mappings", "at least one [[group_mappings]] with group and role is required", source)
    pairs = []
    for index, mapping in enumerate(mappings):
        where = f"group_mappings[{index}]"
        if not isinstance(mapping, dict):
            raise _bad(where, "must be a table with group and role", source)
        group, role = mapping.get("group"), mapping.get("role")
        if not isinstance(group, str) or not group.strip():
            raise _bad(f"{where}.group", "is required (a claim value, or \"*\" for everyone)", source)
        try:
            pairs.append((group.strip(), Role(role)))
        except ValueError:
            raise _bad(f"{where}.role", f"{role!r} is not a Duban role "
                                        f"({', '.join(r.value for r in Role)})", source) from None
    timeout = data.get("timeout", 5.0)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 60:
        raise _bad("timeout", "must be a number of seconds above 0 and at most 60", source)
    return Config(issuer=issuer, client_id=text("client_id", True), client_secret=text("client_secret", True),
                  scopes=scopes, redirect_uri=url("redirect_uri"), attributes=attributes,
                  group_mappings=tuple(pairs), button_label=text("button_label"),
                  mfa_amr=strings("mfa_amr", DEFAULT_MFA_AMR),
                  post_logout_redirect_uri=url("post_logout_redirect_uri"), timeout=float(timeout))


# -- the protocol --------------------------------------------------------------------------------


class ProviderError(Exception):
    """The provider could not be asked, or its answer is not good: `reason` is a code for the
    pages' language and the security log ("unreachable", "token_exchange", "invalid_token")."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class ClaimsMissing(ProviderError):
    def __init__(self, message: str, claim: str):
        super().__init__(message, "claims_missing")
        self.claim = claim


@dataclass(frozen=True)
class Start:
    """A sign-in on its way to the provider: where to send the browser, and what the
    callback must find again (kept in the page session)."""

    url: str
    state: str
    nonce: str
    verifier: str


METADATA_SECONDS = 3600  # how long discovery's answer is reused


class Provider:
    def __init__(self, config: Config):
        self.config = config
        self._metadata: dict | None = None
        self._fetched = 0.0
        self._jwks: dict | None = None

    def _get(self, url: str) -> dict:
        import requests

        try:
            answer = requests.get(url, timeout=self.config.timeout, headers={"Accept": "application/json"})
            answer.raise_for_status()
            return answer.json()
        except requests.RequestException as error:
            raise ProviderError(f"{url} does not answer: {error}", "unreachable") from None
        except ValueError:
            raise ProviderError(f"{url} does not answer JSON", "unreachable") from None

    def fresh_metadata(self) -> dict:
        """The discovery document asked for now (the security administrator's check)."""
        self._metadata = None
        return self.metadata()

    def metadata(self) -> dict:
        if self._metadata is None or time.monotonic() - self._fetched > METADATA_SECONDS:
            found = self._get(f"{self.config.issuer}/.well-known/openid-configuration")
            if found.get("issuer", "").rstrip("/") != self.config.issuer:
                raise ProviderError(f"the provider calls itself {found.get('issuer')!r}, not "
                                    f"{self.config.issuer!r}", "unreachable")
            missing = [key for key in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not found.get(key)]
            if missing:
                raise ProviderError(f"the provider's discovery document has no {missing[0]}", "unreachable")
            self._metadata, self._fetched, self._jwks = found, time.monotonic(), None
        return self._metadata

    def _client(self, redirect_uri: str):
        from authlib.integrations.requests_client import OAuth2Session

        return OAuth2Session(self.config.client_id, self.config.client_secret, scope=" ".join(self.config.scopes),
                             redirect_uri=redirect_uri, code_challenge_method="S256",
                             token_endpoint_auth_method="client_secret_basic")

    def start(self, redirect_uri: str) -> Start:
        from authlib.common.security import generate_token

        endpoint = self.metadata()["authorization_endpoint"]
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(48)
        url, _state = self._client(redirect_uri).create_authorization_url(endpoint, state=state, nonce=nonce,
                                                                          code_verifier=verifier)
        return Start(url, state, nonce, verifier)

    def finish(self, redirect_uri: str, code: str, nonce: str, verifier: str) -> tuple[dict, str]:
        """The code exchanged for tokens: the ID token's claims (with the userinfo endpoint's
        where the ID token lacks what the mapping needs) and the ID token itself."""
        import requests
        from authlib.integrations.base_client import OAuthError

        metadata = self.metadata()
        client = self._client(redirect_uri)
        try:
            token = client.fetch_token(metadata["token_endpoint"], grant_type="authorization_code", code=code,
                                       code_verifier=verifier, timeout=self.config.timeout)
        except requests.RequestException as error:
            raise ProviderError(f"the token endpoint does not answer: {error}", "unreachable") from None
        except (OAuthError, ValueError) as error:
            raise ProviderError(f"the token endpoint refused the code: {error}", "token_exchange") from None
        id_token = token.get("id_token")
        if not id_token:
            raise ProviderError("the token endpoint's answer has no id_token", "invalid_token")
        claims = self._validate(id_token, nonce)
        names = self.config.attributes
        wanted = [names["username"], names["groups"], names["employee_number"], names["name"]]
        if any(name not in claims for name in wanted) and metadata.get("userinfo_endpoint"):
            try:
                answer = client.get(metadata["userinfo_endpoint"], timeout=self.config.timeout)
                answer.raise_for_status()
                info = answer.json()
            except (requests.RequestException, ValueError) as error:
                raise ProviderError(f"the userinfo endpoint does not answer: {error}", "unreachable") from None
            if info.get("sub") == claims["sub"]:  # OIDC core 5.3.2: else it is not this person's
                claims = {**info, **claims}
        return claims, id_token

    def _keys(self, refresh: bool = False):
        from joserfc.jwk import KeySet

        if self._jwks is None or refresh:
            self._jwks = self._get(self.metadata()["jwks_uri"])
        return KeySet.import_key_set(self._jwks)

    def _validate(self, id_token: str, nonce: str) -> dict:
        from joserfc import jwt
        from joserfc.errors import JoseError

        allowed = [alg for alg in self.metadata().get("id_token_signing_alg_values_supported", ["RS256"])
                   if alg in SIGNING_ALGORITHMS] or ["RS256"]
        try:
            try:
                decoded = jwt.decode(id_token, self._keys(), algorithms=allowed)
            except JoseError:  # a key the provider has rolled over to since: fetch the set once more
                decoded = jwt.decode(id_token, self._keys(refresh=True), algorithms=allowed)
            claims = decoded.claims
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": self.config.issuer},
                sub={"essential": True}, exp={"essential": True}, iat={"essential": True},
                nonce={"essential": True, "value": nonce}, leeway=60).validate(claims)
        except (JoseError, ValueError, KeyError, TypeError) as error:  # a malformed token or key set too
            raise ProviderError(f"the ID token is not valid: {error}", "invalid_token") from None
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else list(audience or [])
        if self.config.client_id not in audiences or (len(audiences) > 1 and claims.get("azp") != self.config.client_id):
            raise ProviderError(f"the ID token is for {audience!r}, not {self.config.client_id!r}", "invalid_token")
        return dict(claims)

    def end_session_url(self, id_token: str, post_logout_redirect_uri: str) -> str | None:
        """Where the browser signs out at the provider too (RP-initiated logout), if it says."""
        try:
            endpoint = self.metadata().get("end_session_endpoint")
        except ProviderError:
            return None
        if not endpoint:
            return None
        query = urlencode({"id_token_hint": id_token, "post_logout_redirect_uri": post_logout_redirect_uri,
                           "client_id": self.config.client_id})
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


# -- signing in, one transaction each -------------------------------------------------------------


@dataclass(frozen=True)
class Admitted:
    """The provider's person, admitted: signed in (`needs` None), or waiting for the second
    factor ("code": the account has one; "enrol": the policy asks it to set one up)."""

    user: User
    method: str
    needs: str | None = None


def refused(duban, subject: str | None, reason: str, details: dict | None = None) -> None:
    """A sign-in through the provider that did not succeed (a security event)."""
    with duban.db.transaction() as session:
        security_log.record(session, Kind.SIGN_IN, subject=(subject or ORIGIN)[:100], result=security_log.FAILURE,
                            method=ORIGIN, details={"door": "page", "reason": reason, **(details or {})})


def sign_in(duban, identity: Identity, factor: str | None) -> Admitted:
    """Admit the identity; `factor` is the ID token's `amr` value that counts as a second
    factor (None: the policy's second factor applies). NotAdmitted after committing what the
    refusal changed (a disabled account) and its event."""
    refusal = None
    with duban.db.transaction() as session:
        try:
            user = admit(session, identity)
        except NotAdmitted as error:
            refusal = error
            security_log.record(session, Kind.SIGN_IN, subject=identity.username[:100], result=security_log.FAILURE,
                                method=ORIGIN, details={"door": "page", "reason": error.reason})
        else:
            needs = None
            if factor is None:
                if second_factor.enrolled(session, user):
                    needs = "code"
                elif second_factor.policy(session).requires(user):
                    needs = "enrol"
            method = f"{ORIGIN}+amr:{factor}" if factor else ORIGIN
            if needs is None:
                security_log.record(session, Kind.SIGN_IN, actor=user, method=method, details={"door": "page"})
            return Admitted(user, method, needs)
    raise refusal


def complete(duban, user_id: int, code: str) -> User:
    """The second factor of an admitted person: the authenticator's code or a recovery code.
    A wrong one is a failed sign-in towards the account name's lockout (committed, then
    SecondFactorNeeded or Locked is raised)."""
    refusal = None
    with duban.db.transaction() as session:
        user = duban.actor(session, user_id)
        now = clock.now()
        digest = guarded.name_digest(user.username)
        row = session.get(SignInThrottle, digest, with_for_update=True)
        if row is not None and row.locked_until is not None and row.locked_until > now:
            refusal = guarded._locked(row.locked_until, now)
        else:
            try:
                used = second_factor.verify(session, user, code, duban.sealer)
            except second_factor.SecondFactorNeeded as needed:
                refusal = needed
                if needed.counts:
                    failure = guarded._failed(session, row, digest, now, duban.settings.sign_in)
                    if isinstance(failure, Locked):
                        refusal = failure
                    security_log.record(session, Kind.SECOND_FACTOR_FAILED, subject=user.username,
                                        result=security_log.FAILURE, method="totp", object=f"user:{user.username}")
                security_log.record(session, Kind.SIGN_IN, subject=user.username, result=security_log.FAILURE,
                                    method=ORIGIN, details={"door": "page", "reason": "second factor wrong"})
            else:
                if row is not None:
                    session.delete(row)
                method = f"{ORIGIN}+{'totp' if used == 'totp' else 'recovery'}"
                security_log.record(session, Kind.SIGN_IN, actor=user, method=method, details={"door": "page"})
                return user
    raise refusal


def confirm_enrolment(duban, user_id: int, code: str) -> tuple[User, list[str]]:
    """The authenticator's first code confirms the enrolment the policy asked for, and the
    sign-in through the provider completes: the account and its ten recovery codes."""
    with duban.db.transaction() as session:
        user = duban.actor(session, user_id)
        codes = second_factor.confirm(session, user, code, duban.sealer)
        security_log.record(session, Kind.SECOND_FACTOR_ENROLLED, actor=user, method="totp",
                            object=f"user:{user.username}")
        security_log.record(session, Kind.SIGN_IN, actor=user, method=f"{ORIGIN}+totp", details={"door": "page"})
        return user, codes
