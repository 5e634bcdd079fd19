"""Back-office CSV import of members: upload, choose columns, watch the import advance.

The import runs in steps of a few thousand rows, each one request: the progress page's
script (web/static/backoffice/import.js) posts the next step as soon as the last one answers
and draws the progress it returns. Without JavaScript, a button runs one step at a time.
Closing the page pauses the import where it is; opening it again resumes it.
`flask members import FILE --merchant SLUG` runs the same steps to the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import (
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from loyalty.errors import LoyaltyError
from loyalty.models import ImportStatus, MemberImport
from loyalty.services import member_import
from web.backoffice.views import blueprint
from web.extensions import db
from web.tenancy import current_actor, current_merchant, tenant_get_or_404, tenant_select

RECENT_IMPORTS = 10


def import_directory() -> Path:
    """Where uploads wait for their import (MEMBER_IMPORT_DIR; default instance/imports)."""
    return Path(current_app.config["MEMBER_IMPORT_DIR"])


def wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def progress(job: MemberImport) -> dict[str, Any]:
    """What the progress page shows, as JSON: counts, percent of the file read, the state."""
    done = job.status in (ImportStatus.DONE, ImportStatus.FAILED)
    percent = 100 if done else min(99, job.byte_offset * 100 // max(job.size_bytes, 1))
    return {
        "status": job.status.value,
        "done": done,
        "percent": percent,
        "rows_read": job.rows_read,
        "rows_imported": job.rows_imported,
        "rows_duplicate": job.rows_duplicate,
        "rows_failed": job.rows_failed,
        "error": job.error,
        "report_url": url_for("backoffice.import_errors", import_id=job.id),
    }


@blueprint.get("/members/import")
def imports() -> str:
    recent = db.session.scalars(
        tenant_select(MemberImport)
        .order_by(MemberImport.created_at.desc(), MemberImport.id.desc())
        .limit(RECENT_IMPORTS)
    ).all()
    return render_template("backoffice/imports.html", recent=recent, fields=member_import.FIELDS)


@blueprint.post("/members/import")
def upload() -> Response | tuple[str, int]:
    file = request.files.get("file")
    if file is None or not file.filename:
        flash("Choose a CSV file to upload.", "error")
        return redirect(url_for("backoffice.imports"), 303)
    try:
        job = member_import.save_upload(
            db.session,
            merchant=current_merchant(),
            actor=current_actor(),
            filename=file.filename,
            stream=file.stream,
            directory=import_directory(),
        )
    except LoyaltyError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("backoffice.imports"), 303)
    db.session.commit()
    return redirect(url_for("backoffice.import_columns", import_id=job.id), 303)


@blueprint.route("/imports/<int:import_id>/columns", methods=["GET", "POST"])
def import_columns(import_id: int) -> Response | str:
    job = tenant_get_or_404(MemberImport, import_id)
    if job.status not in (ImportStatus.UPLOADED, ImportStatus.READY):
        return redirect(url_for("backoffice.import_progress", import_id=job.id), 303)
    if request.method == "POST":
        chosen: dict[str, int | None] = {}
        for field in member_import.FIELDS:
            raw = request.form.get(field, "").strip()
            chosen[field] = int(raw) if raw.isascii() and raw.isdigit() else None
        try:
            member_import.set_mapping(db.session, job=job, chosen=chosen)
        except LoyaltyError as error:
            db.session.rollback()
            flash(error.message, "error")
            return redirect(url_for("backoffice.import_columns", import_id=job.id), 303)
        db.session.commit()
        if request.form.get("action") == "start":
            return redirect(url_for("backoffice.import_progress", import_id=job.id), 303)
        return redirect(url_for("backoffice.import_columns", import_id=job.id), 303)
    merchant = current_merchant()
    rows = member_import.preview(job, country=merchant.default_country)
    return render_template(
        "backoffice/import_columns.html",
        job=job,
        fields=member_import.FIELDS,
        mapping=job.mapping.get("fields", {}),
        rows=rows,
    )


@blueprint.get("/imports/<int:import_id>")
def import_progress(import_id: int) -> Response | str:
    job = tenant_get_or_404(MemberImport, import_id)
    if job.status == ImportStatus.UPLOADED:
        return redirect(url_for("backoffice.import_columns", import_id=job.id), 303)
    return render_template("backoffice/import_progress.html", job=job, progress=progress(job))


@blueprint.get("/imports/<int:import_id>/progress.json")
def import_status(import_id: int) -> Response:
    return jsonify(progress(tenant_get_or_404(MemberImport, import_id)))


@blueprint.post("/imports/<int:import_id>/step")
def import_step(import_id: int) -> Response | tuple[Response, int]:
    job = tenant_get_or_404(MemberImport, import_id)
    try:
        member_import.run_step(db.session, job=job)
    except LoyaltyError as error:
        db.session.rollback()
        if wants_json():
            return jsonify(progress(job) | {"error": error.message}), 409
        flash(error.message, "error")
        return redirect(url_for("backoffice.import_progress", import_id=job.id), 303)
    db.session.commit()
    if wants_json():
        return jsonify(progress(job))
    return redirect(url_for("backoffice.import_progress", import_id=job.id), 303)


@blueprint.get("/imports/<int:import_id>/errors.csv")
def import_errors(import_id: int) -> Response:
    job = tenant_get_or_404(MemberImport, import_id)
    path = member_import.report_path(job)
    name = f"{Path(job.filename).stem or 'import'}-problems.csv"
    if not path.exists() or job.report_bytes == 0:
        return Response(
            "line,problem\r\n",
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return Response(
        _read_up_to(path, job.report_bytes),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _read_up_to(path: Path, size: int) -> Iterator[bytes]:
    """The report as committed steps wrote it: a failed step may have left lines past `size`."""
    with open(path, "rb") as file:
        while size > 0 and (chunk := file.read(min(64 * 1024, size))):
            size -= len(chunk)
            yield chunk
