"""统一身份认证设置 as the security administrator sees them: the LDAP / Active Directory servers
(ldap.toml, DUBAN_LDAP_CONFIG) and the OpenID Connect provider (DUBAN_OIDC_CONFIG) in force,
with their group-to-role mappings, and a check that asks each of them now.

The settings are files the deployment puts in place (they hold the directory's bind password
and the provider's client secret, which Duban never shows): the security administrator reads
what is in force and checks it; a change is made in the file and takes effect at the next
start. Nothing here holds a password or a secret: only whether one is set."""
from __future__ import annotations

from dataclasses import dataclass

from .directory import Directory, DirectoryConfig
from .oidc import Config as OidcConfig
from .oidc import Provider, ProviderError


@dataclass(frozen=True)
class Check:
    what: str       # "ldap://host:389" or the issuer
    ok: bool
    detail: str


def view(directory: DirectoryConfig | None, provider: OidcConfig | None) -> dict:
    """What is configured, for the page: no password, no secret."""
    return {"ldap": None if directory is None else {
        "path": directory.path, "recheck_minutes": directory.recheck_minutes,
        "servers": [{
            "address": server.address, "start_tls": server.start_tls, "use_ssl": server.use_ssl,
            "verifies_certificate": not server.ssl_skip_verify, "root_ca_cert": server.root_ca_cert or None,
            "bind_dn": server.bind_dn or None, "direct_bind": server.direct_bind,
            "bind_password_set": bool(server.bind_password), "search_filter": server.search_filter,
            "search_base_dns": list(server.search_base_dns), "group_search_filter": server.group_search_filter or None,
            "group_search_base_dns": list(server.group_search_base_dns), "timeout": server.timeout,
            "attributes": {name: value for name, value in vars(server.attributes).items() if value},
            "group_mappings": [(mapping.group_dn, mapping.role) for mapping in server.group_mappings],
        } for server in directory.servers]},
        "oidc": None if provider is None else {
            "issuer": provider.issuer, "client_id": provider.client_id, "client_secret_set": bool(provider.client_secret),
            "scopes": list(provider.scopes), "redirect_uri": provider.redirect_uri,
            "attributes": dict(provider.attributes), "group_mappings": list(provider.group_mappings),
            "mfa_amr": list(provider.mfa_amr), "button_label": provider.button_label,
            "post_logout_redirect_uri": provider.post_logout_redirect_uri, "timeout": provider.timeout}}


def check(directory: Directory | None, provider: Provider | None) -> list[Check]:
    """Ask every configured server and the provider now: binding with the service account,
    reading the provider's discovery document. Each answer says what failed, never a secret."""
    found: list[Check] = []
    if directory is not None:
        for server, line in zip(directory.config.servers, directory.check()):
            _, _, said = line.partition(": ")
            ok = not said.startswith("FAILED")
            found.append(Check(server.address, ok, said if ok else said.removeprefix("FAILED: ")))
    if provider is not None:
        try:
            metadata = provider.fresh_metadata()
        except ProviderError as error:
            found.append(Check(provider.config.issuer, False, str(error)))
        else:
            found.append(Check(provider.config.issuer, True, f"discovery ok (authorization at "
                                                             f"{metadata['authorization_endpoint']})"))
    return found
