"""A real OpenLDAP server for the directory tests: Debian's `slapd` (installed by `make
install`), started under the test's temporary folder on a free port with a throw-away
configuration (slapd.conf: the mdb backend and the memberof overlay), seeded over LDAP so
that the overlay keeps `memberOf`, and stopped at the end.

The seeded office (dc=qj,dc=gov): people under ou=people with Chinese display names and
employee numbers (工号), groups (groupOfNames) under ou=groups."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

SLAPD = shutil.which("slapd") or ("/usr/sbin/slapd" if Path("/usr/sbin/slapd").exists() else None)
SCHEMA = Path("/etc/ldap/schema")
MODULES = Path("/usr/lib/ldap")
SUFFIX = "dc=qj,dc=gov"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "root-secret"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"

needs_slapd = pytest.mark.skipif(SLAPD is None or not (SCHEMA / "inetorgperson.schema").exists(),
                                 reason="OpenLDAP's slapd is not installed (make install installs it: "
                                        "apt-get install slapd ldap-utils)")

# login name: (display name, employee number, password)
SEED_PEOPLE = {
    "zhangke": ("张科", "QJ-0042", "zk-pass-1"),
    "liwei": ("李伟", "QJ-0077", "lw-pass-1"),
    "wangfang": ("王芳", "QJ-0101", "wf-pass-1"),
    "nogroup": ("赵无组", "QJ-0200", "ng-pass-1"),
}
SEED_GROUPS = {
    "duban-officials": ["zhangke", "wangfang"],
    "duban-discipline": ["liwei"],
    "other-staff": ["nogroup", "wangfang"],
}


def person_dn(uid: str) -> str:
    return f"uid={uid},{PEOPLE}"


def group_dn(name: str) -> str:
    return f"cn={name},{GROUPS}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class DirectoryServer:
    port: int
    process: subprocess.Popen
    folder: Path

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def admin(self):
        """An ldap3 connection bound as the directory's root (to change people and groups)."""
        import ldap3

        return ldap3.Connection(ldap3.Server(self.host, port=self.port, get_info=ldap3.NONE), ROOT_DN,
                                ROOT_PASSWORD, auto_bind=True, raise_exceptions=True)

    def remove_member(self, group: str, uid: str) -> None:
        import ldap3

        with self.admin() as conn:
            conn.modify(group_dn(group), {"member": [(ldap3.MODIFY_DELETE, [person_dn(uid)])]})

    def delete_person(self, uid: str) -> None:
        with self.admin() as conn:
            conn.delete(person_dn(uid))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


CONF = """\
include {schema}/core.schema
include {schema}/cosine.schema
include {schema}/inetorgperson.schema
modulepath {modules}
moduleload back_mdb
moduleload memberof
pidfile {folder}/slapd.pid
argsfile {folder}/slapd.args

database mdb
suffix "{suffix}"
rootdn "{root}"
rootpw {password}
directory {folder}/data
maxsize 16777216
overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint TRUE

access to attrs=userPassword by anonymous auth by self read by * none
access to * by * read
"""


def start(folder: Path) -> DirectoryServer:
    (folder / "data").mkdir(parents=True)
    conf = folder / "slapd.conf"
    conf.write_text(CONF.format(schema=SCHEMA, modules=MODULES, folder=folder, suffix=SUFFIX, root=ROOT_DN,
                                password=ROOT_PASSWORD))
    port = free_port()
    log = open(folder / "slapd.log", "wb")
    process = subprocess.Popen([SLAPD, "-f", str(conf), "-h", f"ldap://127.0.0.1:{port}/", "-d", "0"],
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = DirectoryServer(port, process, folder)
    deadline = time.monotonic() + 20
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"slapd ended at start: {(folder / 'slapd.log').read_text(errors='replace')[-2000:]}")
        try:
            server.admin().unbind()
            break
        except Exception:  # noqa: BLE001 - not listening yet
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError("slapd did not answer within 20 s") from None
            time.sleep(0.1)
    seed(server)
    return server


def seed(server: DirectoryServer) -> None:
    with server.admin() as conn:
        conn.add(SUFFIX, ["dcObject", "organization"], {"o": "曲靖市生态环境局", "dc": "qj"})
        conn.add(PEOPLE, ["organizationalUnit"], {"ou": "people"})
        conn.add(GROUPS, ["organizationalUnit"], {"ou": "groups"})
        for uid, (name, number, password) in SEED_PEOPLE.items():
            conn.add(person_dn(uid), ["inetOrgPerson"], {
                "uid": uid, "cn": name, "sn": name[0], "givenName": name[1:], "displayName": name,
                "mail": f"{uid}@qj.gov.cn", "employeeNumber": number, "userPassword": password})
        for group, members in SEED_GROUPS.items():
            conn.add(group_dn(group), ["groupOfNames"], {"cn": group, "member": [person_dn(m) for m in members]})


@pytest.fixture(scope="module")
def directory_server(tmp_path_factory):
    """One slapd for a test module (each test that changes it puts back what it changed, or
    uses its own people)."""
    if SLAPD is None:
        pytest.skip("OpenLDAP's slapd is not installed (make install installs it)")
    server = start(tmp_path_factory.mktemp("slapd"))
    yield server
    server.stop()


def config_toml(server: DirectoryServer, *, group_search: bool = False, timeout: float = 3,
                extra_servers: str = "", recheck_minutes: float = 15) -> str:
    """An ldap.toml for the seeded office: officials and the discipline office mapped to
    roles, by memberOf or by group search."""
    groups = (f'group_search_filter = "(&(objectClass=groupOfNames)(member=%s))"\n'
              f'group_search_base_dns = ["{GROUPS}"]\n') if group_search else ""
    return f"""\
recheck_minutes = {recheck_minutes}
{extra_servers}
[[servers]]
host = "{server.host}"
port = {server.port}
timeout = {timeout}
bind_dn = "{ROOT_DN}"
bind_password = "{ROOT_PASSWORD}"
search_filter = "(uid={{username}})"
search_base_dns = ["{PEOPLE}"]
{groups}
[servers.attributes]
username = "uid"
name = "displayName"
email = "mail"
member_of = "memberOf"
employee_number = "employeeNumber"

[[servers.group_mappings]]
group_dn = "{group_dn('duban-officials')}"
role = "official"

[[servers.group_mappings]]
group_dn = "{group_dn('duban-discipline')}"
role = "discipline"
"""
