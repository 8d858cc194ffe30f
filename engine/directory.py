"""The office's LDAP or Active Directory server (统一身份认证): who a login name is, whether
their password is right, which groups they are in and which Duban roles those map to.

Configured by a TOML file named by `DUBAN_LDAP_CONFIG`, laid out like Grafana's ldap.toml
(see config/ldap.example.toml): one or more `[[servers]]`, tried in order, each with its
`[servers.attributes]` and `[[servers.group_mappings]]`. A server that cannot be reached
within `timeout` seconds is passed over for the next; when none answers, the sign-in is
refused with `DirectoryUnavailable` (503), never left hanging.

A sign-in searches the person by `search_filter` (the login name escaped, so `*`, `(`, `)`
and `\\` match themselves), then binds as the found DN with the typed password; an empty
password is never sent (an empty simple bind is an anonymous bind, which many servers
accept). With `bind_dn` holding `{username}` (or `%s`) the person's own bind is the first
step instead. The groups come from the person's `member_of` attribute (`memberOf`), or from
`group_search_filter` in `group_search_base_dns`. No password is ever logged.
"""
from __future__ import annotations

import logging
import math
import os
import ssl
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DubanError, Misconfigured
from .external_accounts import Identity
from .models import Role

log = logging.getLogger("duban.directory")

SETTING = "DUBAN_LDAP_CONFIG"
ORIGIN = "ldap"
EVERYONE = "*"


class DirectoryUnavailable(DubanError):
    """No configured directory server answered (down, unreachable, too slow, or its service
    account cannot bind): the sign-in cannot be decided now."""

    code = "unavailable"
    status = 503
    extra = {}


@dataclass(frozen=True)
class Attributes:
    username: str = "uid"
    name: str = "displayName"
    surname: str = ""
    email: str = "mail"
    member_of: str = "memberOf"
    employee_number: str = "employeeNumber"


@dataclass(frozen=True)
class GroupMapping:
    group_dn: str
    role: Role


@dataclass(frozen=True)
class Server:
    host: str
    port: int = 389
    use_ssl: bool = False
    start_tls: bool = False
    ssl_skip_verify: bool = False
    root_ca_cert: str = ""
    bind_dn: str = ""
    bind_password: str = field(default="", repr=False)
    search_filter: str = "(uid={username})"
    search_base_dns: tuple[str, ...] = ()
    group_search_filter: str = ""
    group_search_base_dns: tuple[str, ...] = ()
    group_search_filter_user_attribute: str = ""
    timeout: float = 5.0
    attributes: Attributes = field(default_factory=Attributes)
    group_mappings: tuple[GroupMapping, ...] = ()

    @property
    def direct_bind(self) -> bool:
        """`bind_dn` names the person (`{username}` or `%s`): they bind as themselves."""
        return "{username}" in self.bind_dn or "%s" in self.bind_dn

    @property
    def address(self) -> str:
        return f"{'ldaps' if self.use_ssl else 'ldap'}://{self.host}:{self.port}"


@dataclass(frozen=True)
class DirectoryConfig:
    servers: tuple[Server, ...]
    recheck_minutes: float = 15.0
    path: str = ""


# -- the configuration file -----------------------------------------------------------------------

_SERVER_KEYS = {"host", "port", "use_ssl", "start_tls", "ssl_skip_verify", "root_ca_cert", "bind_dn", "bind_password",
                "search_filter", "search_base_dns", "group_search_filter", "group_search_base_dns",
                "group_search_filter_user_attribute", "timeout", "attributes", "group_mappings"}
_ATTRIBUTE_KEYS = {"username", "name", "surname", "email", "member_of", "employee_number"}


def _bad(key: str, problem: str, path: str) -> Misconfigured:
    return Misconfigured(f"{path}: {key}: {problem}", {key: [problem]})


def from_env() -> DirectoryConfig | None:
    """The configuration `DUBAN_LDAP_CONFIG` names, or None when it is unset (local accounts only)."""
    named = (os.environ.get(SETTING) or "").strip()
    return load(Path(named)) if named else None


def load(path: Path) -> DirectoryConfig:
    """Read and check the file: a missing or misspelt key, a value of the wrong kind or an
    unknown role raises Misconfigured naming the key (e.g. `servers[0].host`)."""
    shown = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _bad(SETTING, f"no such file {shown}", shown) from None
    except (OSError, UnicodeDecodeError) as error:
        raise _bad(SETTING, f"cannot read {shown}: {error}", shown) from None
    except tomllib.TOMLDecodeError as error:
        raise _bad(SETTING, f"not valid TOML: {error}", shown) from None
    return parse(data, shown)


def parse(data: dict, shown: str = "ldap.toml") -> DirectoryConfig:
    unknown = set(data) - {"servers", "recheck_minutes"}
    if unknown:
        raise _bad(sorted(unknown)[0], "unknown key", shown)
    servers = data.get("servers")
    if not isinstance(servers, list) or not servers:
        raise _bad("servers", "at least one [[servers]] table is needed", shown)
    recheck = data.get("recheck_minutes", 15)
    if isinstance(recheck, bool) or not isinstance(recheck, (int, float)) or recheck < 0:
        raise _bad("recheck_minutes", "a number of minutes, 0 or more", shown)
    return DirectoryConfig(tuple(_server(s, f"servers[{i}]", shown) for i, s in enumerate(servers)),
                           float(recheck), shown)


def _server(data, prefix: str, shown: str) -> Server:
    if not isinstance(data, dict):
        raise _bad(prefix, "must be a table", shown)
    unknown = set(data) - _SERVER_KEYS
    if unknown:
        raise _bad(f"{prefix}.{sorted(unknown)[0]}", "unknown key", shown)

    def text(key: str, default: str = "", required: bool = False) -> str:
        value = data.get(key, default)
        if not isinstance(value, str):
            raise _bad(f"{prefix}.{key}", "must be a string", shown)
        if required and not value.strip():
            raise _bad(f"{prefix}.{key}", "is required", shown)
        return value.strip() if key != "bind_password" else value

    def flag(key: str) -> bool:
        value = data.get(key, False)
        if not isinstance(value, bool):
            raise _bad(f"{prefix}.{key}", "must be true or false", shown)
        return value

    def texts(key: str) -> tuple[str, ...]:
        value = data.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise _bad(f"{prefix}.{key}", "must be a list of DNs", shown)
        return tuple(v.strip() for v in value)

    host = text("host", required=True)
    use_ssl = flag("use_ssl")
    port = data.get("port", 636 if use_ssl else 389)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise _bad(f"{prefix}.port", "a port number between 1 and 65535", shown)
    timeout = data.get("timeout", 5)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 60:
        raise _bad(f"{prefix}.timeout", "a number of seconds above 0 and at most 60", shown)
    search_filter = text("search_filter", "(uid={username})")
    if "{username}" not in search_filter and "%s" not in search_filter:
        raise _bad(f"{prefix}.search_filter", "must hold {username} (or %s), the login name's place", shown)
    server = Server(
        host=host, port=port, use_ssl=use_ssl, start_tls=flag("start_tls"), ssl_skip_verify=flag("ssl_skip_verify"),
        root_ca_cert=text("root_ca_cert"), bind_dn=text("bind_dn"), bind_password=text("bind_password"),
        search_filter=search_filter, search_base_dns=texts("search_base_dns"),
        group_search_filter=text("group_search_filter"), group_search_base_dns=texts("group_search_base_dns"),
        group_search_filter_user_attribute=text("group_search_filter_user_attribute"), timeout=float(timeout),
        attributes=_attributes(data.get("attributes", {}), f"{prefix}.attributes", shown),
        group_mappings=_mappings(data.get("group_mappings"), f"{prefix}.group_mappings", shown))
    if use_ssl and server.start_tls:
        raise _bad(f"{prefix}.start_tls", "use_ssl (ldaps) and start_tls exclude each other", shown)
    if server.root_ca_cert and not Path(server.root_ca_cert).is_file():
        raise _bad(f"{prefix}.root_ca_cert", f"no such file {server.root_ca_cert}", shown)
    if not server.search_base_dns:
        raise _bad(f"{prefix}.search_base_dns", "is required (where the people are)", shown)
    if server.group_search_filter and not server.group_search_base_dns:
        raise _bad(f"{prefix}.group_search_base_dns", "is required with group_search_filter", shown)
    return server


def _attributes(data, prefix: str, shown: str) -> Attributes:
    if not isinstance(data, dict):
        raise _bad(prefix, "must be a table", shown)
    unknown = set(data) - _ATTRIBUTE_KEYS
    if unknown:
        raise _bad(f"{prefix}.{sorted(unknown)[0]}", "unknown key", shown)
    for key, value in data.items():
        if not isinstance(value, str):
            raise _bad(f"{prefix}.{key}", "must be an attribute name", shown)
    return Attributes(**{k: v.strip() for k, v in data.items()})


def _mappings(data, prefix: str, shown: str) -> tuple[GroupMapping, ...]:
    if not isinstance(data, list) or not data:
        raise _bad(prefix, "at least one [[servers.group_mappings]] is needed (no group, no role)", shown)
    mappings = []
    for i, entry in enumerate(data):
        where = f"{prefix}[{i}]"
        if not isinstance(entry, dict):
            raise _bad(where, "must be a table", shown)
        unknown = set(entry) - {"group_dn", "role"}
        if unknown:
            raise _bad(f"{where}.{sorted(unknown)[0]}", "unknown key", shown)
        group, role = entry.get("group_dn"), entry.get("role")
        if not isinstance(group, str) or not group.strip():
            raise _bad(f"{where}.group_dn", "is required (a group's DN, or \"*\" for everyone found)", shown)
        try:
            mapped = Role(role)
        except ValueError:
            names = ", ".join(r.value for r in Role)
            raise _bad(f"{where}.role", f"unknown role {role!r}; one of {names}", shown) from None
        mappings.append(GroupMapping(group.strip(), mapped))
    return tuple(mappings)


# -- asking the directory ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    """What the directory said of a login name and password: `identity` when the password is
    right; else `found` tells a wrong password (True) from a name no server knows (False)."""

    identity: Identity | None
    found: bool
    server: str = ""


class Directory:
    def __init__(self, config: DirectoryConfig):
        self.config = config

    def authenticate(self, username: str, password: str) -> Verdict:
        """The servers in order: the first that knows the name decides. An empty password is
        wrong without asking (never an anonymous bind). Raises DirectoryUnavailable when no
        server knows the name and at least one could not be asked."""
        if not _usable(username):
            return Verdict(None, False)  # no account can have such a name: nothing to ask
        if not _usable(password, 1000):
            return Verdict(None, True)   # a wrong password, whoever it is
        return self._first_that_knows(lambda asking: asking.authenticate(username, password))

    def lookup(self, username: str | None = None, dn: str | None = None) -> Verdict:
        """The person as the directory says now, without their password (the service account
        searches), by login name or by their DN (the account's link): `identity` (its roles may
        be none) when found, else found False. Raises DirectoryUnavailable when it cannot be
        told. Not possible with direct bind (no service account)."""
        return self._first_that_knows(lambda asking: asking.lookup(username, dn))

    def _first_that_knows(self, ask) -> Verdict:
        """`ask` each server in order; the first that knows the person decides. When none does
        and at least one could not be asked, DirectoryUnavailable names those."""
        down: list[str] = []
        for server in self.config.servers:
            try:
                verdict = ask(_Asking(server))
            except _Unreachable as why:
                log.warning("directory %s unreachable: %s", server.address, why)
                down.append(f"{server.address}: {why}")
                continue
            if verdict.found:
                return verdict
        if down:
            raise DirectoryUnavailable("the directory (统一身份认证) is unreachable; try again shortly",
                                       {"directory": down})
        return Verdict(None, False)

    def check(self) -> list[str]:
        """Bind every server with its service account: a line each (for `duban ldap check`)."""
        lines = []
        for server in self.config.servers:
            try:
                connection = _Asking(server).service()
                connection.unbind()
                lines.append(f"{server.address}: ok ({'bound as ' + server.bind_dn if server.bind_dn and not server.direct_bind else 'anonymous' if not server.bind_dn else 'direct bind: no service account'})")
            except _Unreachable as why:
                lines.append(f"{server.address}: FAILED: {why}")
        return lines


class _Unreachable(Exception):
    pass


class _Asking:
    """One server, one question: connections open and close within it."""

    def __init__(self, server: Server):
        self.server = server

    def _connection(self, user: str | None = None, password: str | None = None):
        import ldap3
        from ldap3.core import exceptions

        s = self.server
        tls = None
        if s.use_ssl or s.start_tls:
            tls = ldap3.Tls(validate=ssl.CERT_NONE if s.ssl_skip_verify else ssl.CERT_REQUIRED,
                            ca_certs_file=s.root_ca_cert or None)
        target = ldap3.Server(s.host, port=s.port, use_ssl=s.use_ssl, tls=tls, get_info=ldap3.NONE,
                              connect_timeout=_seconds(s.timeout))
        connection = ldap3.Connection(target, user=user, password=password, auto_bind=ldap3.AUTO_BIND_NONE,
                                      receive_timeout=_seconds(s.timeout), read_only=True, raise_exceptions=False,
                                      auto_referrals=False)
        try:
            connection.open()
            if s.start_tls and not connection.start_tls():
                raise _Unreachable(f"StartTLS refused: {connection.result.get('description')}")
        except exceptions.LDAPException as error:
            raise _Unreachable(_plain(error)) from None
        return connection

    def _bind(self, connection) -> bool:
        from ldap3.core import exceptions

        try:
            return bool(connection.bind())
        except exceptions.LDAPException as error:
            raise _Unreachable(_plain(error)) from None

    def service(self):
        """A connection bound as the service account (anonymous when bind_dn is empty)."""
        s = self.server
        if s.direct_bind:
            raise _Unreachable("bind_dn names the person (direct bind): there is no service account")
        connection = self._connection(s.bind_dn or None, s.bind_password if s.bind_dn else None)
        if s.bind_dn and not self._bind(connection):
            description = connection.result.get("description")
            connection.unbind()
            raise _Unreachable(f"the service account {s.bind_dn} cannot bind ({description})")
        return connection

    def authenticate(self, username: str, password: str) -> Verdict:
        s = self.server
        if not username or not password:
            return Verdict(None, bool(username) and self._finds(username))
        if s.direct_bind:
            dn = s.bind_dn.replace("{username}", _escape_dn(username)).replace("%s", _escape_dn(username))
            connection = self._connection(dn, password)
            try:
                if not self._bind(connection):
                    return Verdict(None, True, s.address)  # wrong password or no such person: alike
                entry = self._search_person(connection, username)
                if entry is None:
                    return Verdict(None, True, s.address)
                return Verdict(self._identity(connection, entry, username), True, s.address)
            finally:
                connection.unbind()
        connection = self.service()
        try:
            entry = self._search_person(connection, username)
            if entry is None:
                return Verdict(None, False, s.address)
            identity = self._identity(connection, entry, username)
        finally:
            connection.unbind()
        person = self._connection(entry.entry_dn, password)
        try:
            if not self._bind(person):
                return Verdict(None, True, s.address)
        finally:
            person.unbind()
        return Verdict(identity, True, s.address)

    def _finds(self, username: str) -> bool:
        if self.server.direct_bind:
            return False
        connection = self.service()
        try:
            return self._search_person(connection, username) is not None
        finally:
            connection.unbind()

    def lookup(self, username: str | None, dn: str | None) -> Verdict:
        connection = self.service()
        try:
            entry = self._entry_at(connection, dn) if dn else self._search_person(connection, username or "")
            if entry is None:
                return Verdict(None, False, self.server.address)
            return Verdict(self._identity(connection, entry, username or ""), True, self.server.address)
        finally:
            connection.unbind()

    def _entry_at(self, connection, dn: str):
        """The entry at a DN, if it is under a search base still (else it is not a person here)."""
        import ldap3

        if not any(_normal(dn).endswith(_normal(base)) for base in self.server.search_base_dns):
            return None
        a = self.server.attributes
        wanted = [n for n in (a.username, a.name, a.surname, a.email, a.member_of, a.employee_number) if n]
        try:
            connection.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=wanted,
                              time_limit=max(1, int(self.server.timeout)))
        except Exception as error:  # noqa: BLE001 - ldap3 raises its socket errors here
            raise _Unreachable(_plain(error)) from None
        description = connection.result.get("description")
        if description == "noSuchObject":
            return None
        if description != "success":
            raise _Unreachable(f"reading {dn} failed: {description}")
        return connection.entries[0] if connection.entries else None

    def _search(self, connection, base: str, query: str, attributes: list[str]):
        import ldap3

        try:
            done = connection.search(base, query, search_scope=ldap3.SUBTREE, attributes=attributes, size_limit=3,
                                     time_limit=max(1, int(self.server.timeout)))
        except Exception as error:  # noqa: BLE001 - ldap3 raises its socket errors here
            raise _Unreachable(_plain(error)) from None
        if not done and connection.result.get("description") not in ("success", "noSuchObject", "sizeLimitExceeded"):
            raise _Unreachable(f"search in {base} failed: {connection.result.get('description')}")
        return list(connection.entries)

    def _search_person(self, connection, username: str):
        from ldap3.utils.conv import escape_filter_chars

        s = self.server
        escaped = escape_filter_chars(username)
        query = s.search_filter.replace("{username}", escaped).replace("%s", escaped)
        a = s.attributes
        wanted = [n for n in (a.username, a.name, a.surname, a.email, a.member_of, a.employee_number) if n]
        for base in s.search_base_dns:
            found = self._search(connection, base, query, wanted)
            if len(found) > 1:
                log.warning("directory %s: %d entries match one login name in %s; refused", s.address, len(found), base)
                return None
            if found:
                return found[0]
        return None

    def _identity(self, connection, entry, typed: str) -> Identity:
        a = self.server.attributes
        name = _first(entry, a.name)
        surname = _first(entry, a.surname)
        if surname:
            name = f"{surname}{name}" if _cjk(surname + name) else f"{name} {surname}".strip()
        groups = self._groups(connection, entry)
        roles = frozenset(m.role for m in self.server.group_mappings
                          if m.group_dn == EVERYONE or _normal(m.group_dn) in groups)
        username = _first(entry, a.username) or typed
        return Identity(origin=ORIGIN, external_id=entry.entry_dn, username=username[:60],
                        display_name=(name or username)[:60], email=_first(entry, a.email) or None,
                        employee_number=_first(entry, a.employee_number) or None, roles=roles)

    def _groups(self, connection, entry) -> set[str]:
        from ldap3.utils.conv import escape_filter_chars

        s = self.server
        if not s.group_search_filter:
            return {_normal(v) for v in _values(entry, s.attributes.member_of)}
        if s.group_search_filter_user_attribute:
            value = _first(entry, s.group_search_filter_user_attribute)
            if not value:
                return set()
        else:
            value = entry.entry_dn
        escaped = escape_filter_chars(value)
        query = s.group_search_filter.replace("{username}", escaped).replace("%s", escaped)
        groups = set()
        for base in s.group_search_base_dns:
            groups |= {_normal(e.entry_dn) for e in self._search(connection, base, query, [])}
        return groups


def _usable(text: str, longest: int = 60) -> bool:
    """A name (or password) that can be sent: not too long, no control characters, no lone
    surrogates (which cannot be encoded)."""
    return bool(text) and len(text) <= longest and text.isprintable() and not any(
        "\ud800" <= ch <= "\udfff" for ch in text)


def _seconds(timeout: float) -> int:
    """ldap3 sets its socket timeouts in whole seconds."""
    return max(1, math.ceil(timeout))


def _values(entry, attribute: str) -> list[str]:
    if not attribute or attribute not in entry.entry_attributes:
        return []
    return [str(v) for v in entry[attribute].values]


def _first(entry, attribute: str) -> str:
    values = _values(entry, attribute)
    return values[0].strip() if values else ""


def _normal(dn: str) -> str:
    """DNs compared case- and space-insensitively around the separators."""
    return ",".join(part.strip() for part in dn.lower().split(","))


def _cjk(text: str) -> bool:
    return bool(text) and all("\u3400" <= ch <= "\u9fff" or ch == "·" for ch in text)


def _escape_dn(value: str) -> str:
    from ldap3.utils.dn import escape_rdn

    return escape_rdn(value)


def _plain(error: Exception) -> str:
    """An ldap3 error said in a line (never with a password: ldap3's messages hold none)."""
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}".rstrip(": ")
