"""Duban's engine: the domain, the workflow runtime and everything else that is not HTTP.

Nothing in this package imports Flask; the web app, the command line and the scheduler are
three doors into the same engine.
"""
