"""The daily bulletin (一天一通报).

A part of the Duban facade (engine/service.py): each method one action, one transaction."""
from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from .. import clock, notifications, problems
from .. import lights
from ..models import Role


class BulletinActions:
    def make_bulletin(self, user_id: int | None, day=None, remake: bool = False):
        """Issue the bulletin of `day` (default: today, Beijing time) and return it with whether
        it was made now; a day already issued returns the stored bulletin unless `remake`.
        Administrators make and remake on demand; None is the scheduler or the command line."""
        from .. import bulletin as bulletins

        day = bulletins.parse_day(day) if day is not None else clock.today()
        try:
            with self.db.transaction() as session:
                calendar = self._calendar(session)
                actor = self.actor(session, user_id)
                if actor is None or actor.has_role(Role.ADMIN):
                    lights.catch_up(session, calendar, clock.now(), self.runtime.light_rules)
                    record, made = bulletins.issue(session, day, calendar, actor, remake)
                    if made:
                        notifications.notify(session, users=bulletins.audience(session), kind="bulletin.issued",
                                             subject=[notifications.words("bulletin.subject", number=record.number,
                                                                          day=day.isoformat())],
                                             body=[notifications.words("bulletin.body", day=day.isoformat())],
                                             payload={"day": day.isoformat(), "number": record.number},
                                             channels=self.settings.notifications)
                    return bulletins.Bulletin.from_record(record), made
        except IntegrityError:  # issued meanwhile by another process: the one stored stands
            with self.db.reading() as session:
                return bulletins.Bulletin.from_record(bulletins.get(session, day)), False
        self.deny(user_id, f"make the bulletin of {day.isoformat()}", "bulletin", day.isoformat())

    def bulletin(self, day, user_id: int | None = None):
        """The bulletin issued for `day` (readers: administrators, the discipline office, leaders)."""
        from .. import bulletin as bulletins

        day = bulletins.parse_day(day)
        with self.db.reading() as session:
            if bulletins.may_read(self.actor(session, user_id)):
                return bulletins.Bulletin.from_record(bulletins.get(session, day))
        self.deny(user_id, f"read the bulletin of {day.isoformat()}", "bulletin", day.isoformat())

    def supervision_notice(self, escalation_id: int, user_id: int | None = None):
        """The 督办单 of an urging or a supervised case (engine/supervision_notice.py), for whoever
        may see its problem; NotFound for another rung."""
        from .. import supervision_notice
        from ..models import Escalation

        calendar = self.current_calendar()
        with self.db.reading() as session:
            escalation = session.get(Escalation, escalation_id)
            viewer = self.actor(session, user_id)
            if escalation is None or user_id is None or (viewer is not None
                                                         and problems.may_see(viewer, escalation.problem)):
                return supervision_notice.compose(session, escalation_id, calendar)
            problem_id = escalation.problem_id
        self.deny(user_id, f"read the supervision notice {escalation_id}", "escalation", escalation_id, problem_id)

    def bulletins(self, user_id: int | None = None, page: int = 1, per_page: int = 50):
        """One page of the bulletins issued, newest day first (a paging.Paged of Bulletin)."""
        from .. import bulletin as bulletins, paging

        with self.db.reading() as session:
            if bulletins.may_read(self.actor(session, user_id)):
                found = bulletins.page(session, page, per_page)
                return paging.Paged([bulletins.Bulletin.from_record(r) for r in found.items], found.total)
        self.deny(user_id, "read the bulletins", "bulletin", None)

    def bulletin_due(self):
        """The scheduler's step: issue today's bulletin when today is a working day and its time
        (DUBAN_BULLETIN_TIME) has passed; the day's bulletin if made now, None otherwise."""
        from .. import bulletin as bulletins

        with self.db.reading() as session:
            day = bulletins.due_day(session, self.current_calendar(session), clock.now(), bulletins.issue_time())
        if day is None:
            return None
        made, fresh = self.make_bulletin(None, day)
        return made if fresh else None
