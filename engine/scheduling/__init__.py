"""Time that bites: the jobs that fire BPMN timers, escalations, lights and notices at the
moment they fall due (APScheduler), and the leader election that runs them in one process.

- `signal`: notices when a committed action moved a due time, and tells the scheduler
  (in this process directly, in others by PostgreSQL NOTIFY);
- `plan`: what falls due when, read from the database (a pure function of its rows);
- `lease`, `leadership`: which process runs the jobs (a lease in the database with a fencing
  number that every commit of the leader's cycle checks);
- `runner`: APScheduler with its SQLAlchemy job store in Duban's own database.
"""
