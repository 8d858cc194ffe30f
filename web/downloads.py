"""A generated file (an Excel export) as a download, the same way for the API and the pages:
its Chinese name for browsers that read RFC 5987's `filename*`, an ASCII one for the rest."""
from __future__ import annotations

import io
from urllib.parse import quote

from flask import Response, send_file

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def attachment(content: bytes, name: str, ascii_name: str, mimetype: str = XLSX) -> Response:
    response = send_file(io.BytesIO(content), mimetype=mimetype, as_attachment=True, download_name=name)
    response.headers["Content-Disposition"] = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    return response
