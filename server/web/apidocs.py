"""The API page at ``/api/docs``: Swagger UI (served by the hub, from server/static/vendor) over the
generated OpenAPI document. Without the vendored bundle the page links the document instead."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import current_app, render_template

from server.web.site import bp
from server.web.templating import STATIC


def swagger_ui_installed() -> bool:
    """Swagger UI is installed by ``server.web.assets`` at setup."""
    folder = Path(current_app.static_folder or STATIC) / "vendor" / "swagger-ui"
    return (folder / "swagger-ui-bundle.js").is_file() and (folder / "swagger-ui.css").is_file()


@bp.get("/api/docs")
def api_docs() -> Any:
    return render_template("api_docs.html", swagger_ui=swagger_ui_installed())
