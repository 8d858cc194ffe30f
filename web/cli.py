"""The `duban` command: the command-line door into the engine."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from engine.settings import Settings


def _duban(**engine_options):
    """The engine on DUBAN_DATABASE_URL; a schema that is not the code's (none yet, behind,
    or migrated by a newer release) ends the command with a clear word, never a traceback
    naming a missing table."""
    from engine import migrate
    from engine.service import Duban

    settings = Settings.from_env()
    duban = Duban(settings, **engine_options)
    problem = migrate.schema_problem(duban.db.engine)
    if problem:
        click.echo(f"error: {problem} ({_safe_url(settings.database_url)})", err=True)
        sys.exit(2)
    return duban


class _Group(click.Group):
    """Domain errors end a command with their message and exit status 2, never a traceback."""

    def invoke(self, ctx):
        from engine.errors import DubanError

        try:
            return super().invoke(ctx)
        except DubanError as error:
            click.echo(f"error: {error.message}", err=True)
            for field, messages in error.errors.items():
                for message in messages:
                    if message != error.message:
                        click.echo(f"  {field}: {message}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
def main() -> None:
    """督办 Duban: rectification of environmental-inspection findings.

    The database comes from DUBAN_DATABASE_URL (default: a SQLite file under instance/).
    """


@main.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the newest revision (Alembic)."""
    from engine import migrate

    settings = Settings.from_env()
    try:
        migrate.upgrade(settings.database_url)
    except ValueError as refused:  # a setting read at set-up (DUBAN_CHAIN_DIGEST) that cannot be
        click.echo(f"error: {refused}", err=True)
        sys.exit(2)
    click.echo(f"database at {_safe_url(settings.database_url)} is up to date")


@main.command()
def demo() -> None:
    """Load the demo city, its officials and 20 problems (idempotent)."""
    from engine.demo import load_demo

    app = _duban()
    result = load_demo(app)
    click.echo(result.summary())
    click.echo("\n账号 accounts (password: duban-demo), by role, with what each has waiting "
               "(the second factor is switched off for the demo; a real office's administrators and "
               "discipline office give an authenticator app's code too):")
    click.echo(_roster_text(app))


def _roster_text(app) -> str:
    from engine import clock
    from engine.demo import ROSTER_LABELS, roster

    lines = []
    with app.db.reading() as session:
        for role, entries in roster(session, clock.now()):
            lines.append(f"  {ROSTER_LABELS[role]}")
            lines += [f"    {entry.line()}  （{entry.name}）" for entry in entries]
    return "\n".join(lines)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--scheduler/--no-scheduler", default=True, show_default=True,
              help="run the scheduler in this process too (it leads only where it holds the lock)")
@click.option("--threads", default=16, show_default=True, type=click.IntRange(1, 256),
              help="requests served at once; the database pool is sized to match")
def serve(host: str, port: int, scheduler: bool, threads: int) -> None:
    """Serve the web app and the API, with the scheduler beside it (the embedded default).

    Werkzeug's threaded server, at most THREADS requests at a time (the others wait their
    turn); the database pool holds THREADS connections and as many again in overflow (a
    request may read while it writes), plus a few for the scheduler. A request that waits
    longer than DUBAN_POOL_TIMEOUT seconds (10) for a connection is answered 503 with
    Retry-After."""
    import os

    from werkzeug.serving import run_simple

    from engine import logs
    from engine.scheduling.runner import Scheduler
    from web import create_app
    from web.edge import at_most

    logs.configure()

    duban = _duban(pool_size=threads, max_overflow=threads + 4,
                   pool_timeout=float(os.environ.get("DUBAN_POOL_TIMEOUT", "10")))
    app = create_app(duban=duban)  # a setting it cannot start with stops here, before anything runs
    for definition, created in duban.deploy_shipped():
        if created:
            click.echo(f"deployed {definition.key} version {definition.version}")
    running = Scheduler(duban).start() if scheduler else None
    app.extensions["duban_scheduler"] = running  # /api/ready says what it does
    click.echo(f"Duban on http://{host}:{port}/  (API docs: http://{host}:{port}/api/docs)")
    try:
        run_simple(host, port, at_most(threads, app), threaded=True, use_reloader=False)
    finally:
        if running is not None:
            running.stop()


@main.command()
@click.option("--sweep-every", default=300, show_default=True, type=int,
              help="seconds between sweeps that catch anything missed")
@click.option("--plan", "show_plan", is_flag=True, help="print the upcoming wake-ups and exit")
def scheduler(sweep_every: int, show_plan: bool) -> None:
    """Run the scheduler alone: BPMN timers, the escalation ladder, traffic lights and notices,
    each at the moment it falls due. Run one per host or several: one leads, holding a lease
    in the database; the others stand by and take over within the lease's length (10 s,
    DUBAN_SCHEDULER_LEASE_SECONDS) plus 2 s when it dies, freezes or loses the database."""
    import logging
    import signal as os_signal

    from engine import clock
    from engine.scheduling.runner import Scheduler

    duban = _duban()
    running = Scheduler(duban, sweep_every=sweep_every)
    if not show_plan:
        for run_id in duban.mark_stopped_imports():
            click.echo(f"import run #{run_id} was left running by a stopped process; marked interrupted")
    if show_plan:
        for wakeup in running.wakeups():
            click.echo(f"{wakeup.moment.astimezone(clock.SHANGHAI):%Y-%m-%d %H:%M:%S}  {wakeup.id}  {wakeup.what}")
        return
    from engine import incidents

    from engine import logs

    logs.configure(logging.INFO)
    incidents.watch_for_shutdown()
    os_signal.signal(os_signal.SIGTERM, lambda *_: running.stopping.set())
    click.echo(f"scheduler started as {running.leadership.lease.holder}; it leads when it holds the lease "
               "(Ctrl-C stops it)")
    try:
        running.run()
    except KeyboardInterrupt:
        running.stopping.set()


@main.command()
@click.option("--now", "at", default=None, help="ISO 8601 moment to act as now (default: the real time)")
def wake(at: str | None) -> None:
    """Fire every BPMN timer due by now (public-notice periods, monthly reports, look-backs)
    and retry the incidents due. An instance that fails becomes an incident, named on a line
    of its own; the others are woken all the same (exit status 0)."""
    from engine import clock, incidents

    incidents.watch_for_shutdown()
    if at:
        clock.freeze(clock.parse(at))
    fired = _duban().wake_due()
    for instance_id, names in fired:
        click.echo(f"instance {instance_id}: {', '.join(names) or 'woken'}")
    _echo_incidents(fired.incidents)
    click.echo(f"{len(fired)} instance(s) woken" + (f", {len(fired.incidents)} incident(s)" if fired.incidents else ""))


def _echo_incidents(found) -> None:
    for incident in found:
        click.echo(incident.line())


@main.command()
@click.option("--now", "at", default=None, help="ISO 8601 moment to act as now (default: the real time)")
@click.option("--dry-run", is_flag=True, help="only list what is due")
def sweep(at: str | None, dry_run: bool) -> None:
    """Fire the BPMN timers and everything on the escalation ladder due by now: one line per
    firing (problem code, level, targets), then one per incident (an instance that failed;
    everything else fires all the same, exit status 0)."""
    from engine import clock, incidents

    incidents.watch_for_shutdown()
    if at:
        clock.freeze(clock.parse(at))
    duban = _duban()
    found = duban.wake_due().incidents if not dry_run else []
    firings = duban.sweep(dry_run=dry_run)
    for item in firings:
        click.echo(item.line())
    _echo_incidents(found)
    click.echo(f"{len(firings)} {'due' if dry_run else 'fired'}" + (f", {len(found)} incident(s)" if found else ""))


@main.command()
@click.option("--day", default=None, help="the Beijing date YYYY-MM-DD (default: today)")
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False),
              help="also write it to FILE.docx or FILE.xlsx")
@click.option("--remake", is_flag=True, help="compose a day already issued again, under its number")
def bulletin(day: str | None, out: str | None, remake: bool) -> None:
    """Issue the daily bulletin (一天一通报) of a day, or fetch the one issued, and print its figures."""

    from engine.bulletin import render
    from engine.errors import Invalid

    writers = {".docx": render.to_docx, ".xlsx": render.to_xlsx}
    if out and Path(out).suffix.lower() not in writers:
        raise Invalid(f"{out} is neither a .docx nor an .xlsx file", {"out": ["must end in .docx or .xlsx"]})
    made, fresh = _duban().make_bulletin(None, day, remake)
    click.echo(f"{made.title} 第{made.number}期 {made.day.isoformat()}"
               f"（{'made now' if fresh else 'issued ' + made.made_at.astimezone(render._shanghai()).strftime('%Y-%m-%d %H:%M')}）")
    click.echo(render.summary(made))
    click.echo(render.escalation_summary(made) + render.interview_summary(made) + render.decision_summary(made))
    if out:
        Path(out).write_bytes(writers[Path(out).suffix.lower()](made))
        click.echo(f"written to {out}")


@main.group()
def notify() -> None:
    """Notifications (通知): email and webhook notices waiting in the outbox."""


@notify.command("send")
@click.option("--now", "at", default=None, help="ISO 8601 moment to act as now (default: the real time)")
def notify_send(at: str | None) -> None:
    """Send the email and webhook notices that are due, retrying failed ones with backoff;
    safe to run from several hosts at once (schedule it every minute)."""
    from engine import clock

    if at:
        clock.freeze(clock.parse(at))
    click.echo(f"notifications: {_duban().deliver_notifications()}")


@main.command()
@click.argument("path", type=click.Path(dir_okay=False))
def backup(path: str) -> None:
    """Write a consistent copy of the database and the stored files to PATH (a tar file),
    while Duban serves: SQLite's online backup or pg_dump, and the file store's files."""
    from engine.backup import backup as make_backup

    report = make_backup(_duban(), Path(path))
    click.echo(report.summary())


@main.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def restore(path: str) -> None:
    """Load the backup at PATH into the empty database DUBAN_DATABASE_URL names, and its files
    into the file store; then `duban db upgrade` if it came from an older release."""
    from engine import migrate
    from engine.backup import restore as load_backup
    from sqlalchemy import create_engine

    settings = Settings.from_env()
    report = load_backup(settings, Path(path))
    click.echo(report.summary())
    engine = create_engine(settings.database_url)
    try:
        problem = migrate.schema_problem(engine)
    finally:
        engine.dispose()
    if problem:
        click.echo(f"next: {problem}")
    if report.missing_evidence or report.other_data_key:
        sys.exit(1)


@main.group()
def files() -> None:
    """The file store (DUBAN_FILE_STORE): evidence and ledger sheets waiting for confirmation."""


@files.command("load")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
def files_load(directory: str) -> None:
    """Copy the files of a directory store (an instance folder, as DUBAN_FILES_PATH was) into the
    file store configured now: for moving an office's files into the database or a shared mount."""
    from engine import file_store

    app = _duban()
    copied = file_store.copy(file_store.DirectoryStore(Path(directory)), app.files)
    click.echo("copied " + ", ".join(f"{count} {area}" for area, count in copied.items())
               + f" into the {app.files.kind} store")


@main.group()
def audit() -> None:
    """The audit ledger (留痕)."""


@audit.command("verify")
def audit_verify() -> None:
    """Check the hash chains of the ledger and of the security log; exit 1 naming the first
    broken entry or event."""
    app = _duban()
    result, security = app.verify_ledger(), app.verify_security_log()
    broken = False
    if result.intact:
        click.echo(f"ledger intact: {result.entries} entries")
    else:
        broken = True
        click.echo(f"ledger broken at entry {result.broken_id}: {result.reason} "
                   f"({result.entries} entries before it are intact)", err=True)
    if security.intact:
        click.echo(f"security log intact: {security.events} events")
    else:
        broken = True
        click.echo(f"security log broken at event {security.broken_id}: {security.reason} "
                   f"({security.events} events before it are intact)", err=True)
    if broken:
        sys.exit(1)


@main.group()
def ldap() -> None:
    """The office's directory (统一身份认证, DUBAN_LDAP_CONFIG)."""


@ldap.command("check")
@click.option("--config", "path", type=click.Path(dir_okay=False), default=None,
              help="the ldap.toml to check (default: DUBAN_LDAP_CONFIG)")
@click.option("--user", "username", default=None, help="look this login name up with the service account")
def ldap_check(path: str | None, username: str | None) -> None:
    """Load the directory's configuration (a bad key is named), bind every server with its
    service account, and optionally look a person up: their DN, name, employee number and the
    Duban roles their groups map to. Exit 1 when a server cannot be bound or the person is not
    found. No password is asked for or printed."""
    import os

    from engine import directory
    from engine.errors import Misconfigured

    named = path or (os.environ.get(directory.SETTING) or "").strip()
    if not named:
        click.echo(f"error: {directory.SETTING} is not set (or give --config)", err=True)
        sys.exit(2)
    try:
        config = directory.load(Path(named))
    except Misconfigured as bad:
        click.echo(f"error: {bad.message}", err=True)
        sys.exit(2)
    office = directory.Directory(config)
    lines = office.check()
    for line in lines:
        click.echo(line)
    failed = any("FAILED" in line for line in lines)
    if username:
        try:
            verdict = office.lookup(username=username)
        except directory.DirectoryUnavailable as down:
            click.echo(f"error: {down.message}", err=True)
            sys.exit(1)
        if verdict.identity is None:
            click.echo(f"{username}: not found", err=True)
            sys.exit(1)
        who = verdict.identity
        roles = ", ".join(sorted(r.value for r in who.roles)) or "none (refused: no mapped group)"
        click.echo(f"{username}: {who.external_id}\n  name: {who.display_name}\n  employee number: "
                   f"{who.employee_number or '-'}\n  email: {who.email or '-'}\n  roles: {roles}")
    if failed:
        sys.exit(1)


@audit.command("purge-security-log")
@click.option("--days", type=click.IntRange(180), default=None,
              help="keep this many days (at least 180; default DUBAN_SECURITY_LOG_DAYS, 180)")
def audit_purge(days: int | None) -> None:
    """Remove the security events older than the log keeps; the purge is itself an event."""
    removed = _duban().purge_security_log(days)
    click.echo(f"removed {removed} security events older than {days or Settings.from_env().security_log_days} days")


@main.group()
def user() -> None:
    """Accounts from the command line: the first security and audit administrators (三员分立),
    a break-glass administrator, an unlock when nobody can sign in."""


ROLE_NAMES = ("admin", "discipline", "official", "leader", "security_admin", "audit_admin")


@user.command("create")
@click.argument("username")
@click.option("--name", "display_name", required=True, help="the name shown (显示名)")
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice(ROLE_NAMES),
              help="a role (repeat for several; no account holds two of admin, security_admin, audit_admin)")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="asked for when not given (never put it in the shell's history)")
def user_create(username: str, display_name: str, roles: tuple[str, ...], password: str) -> None:
    """Create a local account with its roles (as the system; a security event)."""
    duban = _duban()
    duban.create_user(None, username, display_name, password, list(roles))
    click.echo(f"created {username} ({', '.join(roles)})")


@user.command("roles")
@click.argument("username")
@click.argument("roles", nargs=-1, required=True, type=click.Choice(ROLE_NAMES))
def user_roles(username: str, roles: tuple[str, ...]) -> None:
    """Set an account's roles (as the system; each grant and revocation a security event)."""
    duban = _duban()
    duban.grant_roles(None, _user_id(duban, username, "USERNAME"), list(roles))
    click.echo(f"{username}: {', '.join(roles)}")


@user.command("unlock")
@click.argument("username")
def user_unlock(username: str) -> None:
    """Lift the lockout of an account after failed sign-ins."""
    duban = _duban()
    was_locked = duban.unlock(None, _user_id(duban, username, "USERNAME"))
    click.echo(f"{username}: {'unlocked' if was_locked else 'was not locked'}")


@main.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.argument("forms", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--accept-warnings", "comment", metavar="COMMENT",
              help="deploy although the file has warnings (not errors), saying why (kept in the ledger)")
def deploy(path: str, forms: tuple[str, ...], comment: str | None) -> None:
    """Deploy a BPMN file as a new version of its process, with the JSON Schema form files
    it names (formJsonSchemaFilename), if any. Every error and warning is printed with its
    line; a warning refuses the file unless --accept-warnings gives the reason."""

    from engine.workflow.document import DocumentError

    content = Path(path).read_bytes()
    attachments = {Path(form).name: Path(form).read_bytes() for form in forms}
    try:
        definition, created = _duban().deploy(None, content, path, attachments, comment)
    except DocumentError as error:
        for finding in error.findings:
            click.echo(f"{path}:{finding.line or 0}: {finding.severity}: {finding.element}: {finding.message} "
                       f"[{finding.code}]", err=True)
        if not error.errors:
            click.echo(f"{path}: only warnings: --accept-warnings \"why\" deploys it", err=True)
        sys.exit(1)
    click.echo(f"{definition.key} version {definition.version}" + ("" if created else " (unchanged)"))


@main.command("import-ledger")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--confirm", is_flag=True, help="import (without it: a dry run that only reports)")
@click.option("--skip-refused", is_flag=True, help="with --confirm: import the good rows although others are refused")
@click.option("--ladder-from", "ladder_from", default=None,
              help="a grace date (YYYY-MM-DD, after today): nothing escalates before it, and on it each overdue row "
                   "enters the ladder at the rung that fits how late it is then; default: now")
@click.option("--look-back", "look_back", is_flag=True,
              help="with --confirm: rows closed in the ledger get their 回头看 (look-back check) due now")
@click.option("--accept-gaps", "accept_gaps", is_flag=True,
              help="with --confirm: accept the regions and units the import creates without a Party or government "
                   "head as organisation gaps (without it such an import is refused; or enter their heads first)")
@click.option("--as", "username", default=None, help="the administrator (环督办) acting; default: the system")
def import_ledger(path: str, confirm: bool, skip_refused: bool, ladder_from: str | None, look_back: bool,
                  accept_gaps: bool, username: str | None) -> None:
    """Import a 问题清单 or 台账 .xlsx: a row-by-row report, and with --confirm the problems,
    with the regions, units and officials it names that Duban lacks, in batches that commit
    every DUBAN_IMPORT_BATCH_SECONDS; a stopped import of the same sheet resumes."""

    duban = _duban()
    user_id = _user_id(duban, username)
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=total, label="registering" if confirm else "reading rows", file=sys.stderr)
            bar.__enter__()
        bar.update(1)
        if done == total:
            bar.__exit__(None, None, None)
            bar = None

    report = duban.import_ledger(user_id, Path(path).read_bytes(), confirm=confirm, skip_refused=skip_refused,
                                 filename=Path(path).name, progress=progress, ladder_from=ladder_from,
                                 look_back=look_back, accept_gaps=accept_gaps)
    click.echo(f"sheet {report['sheet']}, header in row {report['header_row']}")
    for row in report["rows"]:
        reasons = "; ".join(row["reasons"] + row["warnings"])
        state = f"  [{row['state']}" + (f" {row['closed_on']}" if row.get("closed_on") else "") + "]" if row.get("state") else ""
        click.echo(f"row {row['row']:>4}  {row['status']:<9} {row['code'] or '-'}{state}" + (f"  {reasons}" if reasons else ""))
    for key, title in (("new_regions", "new regions"), ("new_units", "new units"), ("new_officials", "new officials")):
        if report[key]:
            click.echo(f"{title}: " + "、".join(item["name"] for item in report[key]))
    _print_without_heads(report["without_heads"], confirm)
    ladder = report["ladder"]
    entering = ", ".join(f"{rung['count']} to L{rung['level']} {rung['name']}" for rung in ladder["rungs"])
    click.echo(f"{ladder['overdue']} overdue" + (f" on {ladder['grace_date']}" if ladder["grace_date"] else " now") +
               (f": {entering}" if entering else ""))
    states = report.get("states") or {}
    click.echo("states: " + ", ".join(f"{states.get(k, 0)} {k}" for k in ("closed", "acceptance", "implementation", "planning", "new")))
    counts = report["counts"]
    summary = f"{counts['ok']} ok, {counts['refused']} refused, {counts['duplicate']} duplicate"
    run = report.get("run")
    if confirm:
        click.echo(f"{summary}; {len(report['imported'])} imported" +
                   (f" (import run #{run['id']}, {run['rows_done']} rows in all)" if run else ""))
    else:
        if run:
            click.echo(f"import run #{run['id']} of this sheet is {run['status']} after {run['rows_done']} of "
                       f"{run['total_rows']} rows; --confirm " + ("resumes it" if run["status"] != "running" else
                                                                 "waits for it to finish"))
        click.echo(f"{summary}; dry run, nothing imported (add --confirm)")


def _print_without_heads(found: list[dict], confirmed: bool) -> None:
    """One line per region or unit left without heads, with the rows naming it and the rows
    the ladder would hold; then what a confirmation needs."""
    if not found:
        return
    click.echo("without heads:")
    for entry in found:
        rows = ", ".join(str(r) for r in entry["rows"])
        held = "; ".join(f"row {h['row']} {h['code']} L{h['level']} {h['name']}" for h in entry["held"])
        click.echo(f"  {entry['kind']:<6} {entry['name']}  {'new' if entry['new'] else 'existing'}, "
                   f"no {' and no '.join(entry['missing'])} head; {entry['row_count']} row(s): {rows}" +
                   (f"; held on the ladder: {held}" if held else ""))
    new = [entry for entry in found if entry["new"]]
    if new and confirmed:
        click.echo(f"accepted as organisation gaps: {len(new)} new region(s)/unit(s) without heads")
    elif new:
        click.echo(f"{len(new)} new region(s)/unit(s) without heads: --confirm needs --accept-gaps "
                   "(or enter their heads first in 管理 · 区域与单位)")


@main.command("export-ledger")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
def export_ledger(path: str) -> None:
    """Write the whole ledger as .xlsx, in the columns import-ledger reads."""

    bars = []

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(click.progressbar(length=total, label="exporting", file=sys.stderr))
            bars[0].__enter__()
        bars[0].update(1)
        if done == total:
            bars[0].__exit__(None, None, None)

    Path(path).write_bytes(_duban().export_ledger(None, progress=progress))
    click.echo(f"ledger written to {path}")


def _user_id(duban, username: str | None, option: str = "--as") -> int | None:
    if username is None:
        return None
    from sqlalchemy import select

    from engine.errors import NotFound
    from engine.models import User

    with duban.db.reading() as session:
        user_id = session.scalar(select(User.id).where(User.username == username))
    if user_id is None:
        raise NotFound(f"no user {username!r}", {option: ["no such user"]})
    return user_id


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
