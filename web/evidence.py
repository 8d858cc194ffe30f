"""Serving an evidence file, the same way for the API and the pages: inline only when its
bytes are a raster image a browser shows safely, a download otherwise, and always under a
Content-Security-Policy that lets nothing in it run."""
from __future__ import annotations

import re
from urllib.parse import quote

from flask import send_file

from engine.errors import NotFound
from engine.evidence_types import HEAD, delivery
from engine.models import EvidenceFile

# the browser's own viewer of an inline image styles its page inline; nothing may run
POLICY = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


def send(app, row: EvidenceFile):
    """The file's response; 404 naming it when its stored bytes are gone."""
    content = app.evidence_content(row)
    if content is None:
        raise NotFound(f"the content of evidence file {row.id} is missing from the file store")
    head = content.read(HEAD)
    content.seek(0)
    how = delivery(head, row.content_type)
    path = app.evidence_path(row)
    if path is not None:  # the directory store: served from disk
        content.close()
        response = send_file(path, mimetype=how.mimetype, conditional=True)
    else:
        response = send_file(content, mimetype=how.mimetype, conditional=True, etag=row.sha256,
                             last_modified=row.uploaded_at)
    ascii_name = re.sub(r'[^\x20-\x7e]|["\\]', "_", row.filename) or "evidence"
    response.headers["Content-Disposition"] = (f"{'inline' if how.inline else 'attachment'}; "
                                               f"filename=\"{ascii_name}\"; filename*=UTF-8''{quote(row.filename)}")
    response.headers["Content-Security-Policy"] = POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
