"""The import pages: upload, columns and preview, steps with JSON progress, the problem report."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.models import Customer, ImportStatus, MemberImport, Role
from tests import factories

CSV = b"Name,Email,Phone\nAnna,anna@example.com,\nBad,nope,\nBea,,+352621000111\n"


@pytest.fixture(autouse=True)
def import_dir(app, tmp_path):
    saved = app.config["MEMBER_IMPORT_DIR"]
    app.config["MEMBER_IMPORT_DIR"] = str(tmp_path)
    yield tmp_path
    app.config["MEMBER_IMPORT_DIR"] = saved


@pytest.fixture
def manager(session: Session, tenant: factories.Tenant, login_as):
    user = factories.make_user(session, tenant, role=Role.MANAGER)
    login_as(user)
    return user


def _upload(client, data: bytes, name: str = "customers.csv"):
    return client.post(
        "/backoffice/members/import",
        data={"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def test_upload_map_and_import_in_steps(client, manager, session, tenant) -> None:
    response = _upload(client, CSV)
    assert response.status_code == 303
    job = session.scalars(select(MemberImport)).one()
    columns = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Preview of the first rows" in columns
    assert "anna@example.com" in columns
    assert "is not a valid e-mail address" in columns  # the preview flags line 3
    started = client.post(
        f"/backoffice/imports/{job.id}/columns",
        data={"name": "0", "email": "1", "phone": "2", "action": "start"},
    )
    assert started.headers["Location"].endswith(f"/backoffice/imports/{job.id}")
    page = client.get(f"/backoffice/imports/{job.id}").get_data(as_text=True)
    assert "backoffice/import.js" in page
    progress = client.post(
        f"/backoffice/imports/{job.id}/step", headers={"Accept": "application/json"}
    ).get_json()
    assert progress["done"] is True
    assert (progress["rows_imported"], progress["rows_failed"], progress["percent"]) == (2, 1, 100)
    assert client.get(f"/backoffice/imports/{job.id}/progress.json").get_json() == progress
    report = client.get(progress["report_url"])
    assert "attachment" in report.headers["Content-Disposition"]
    assert report.get_data(as_text=True).splitlines()[1].startswith("3,")
    emails = session.scalars(
        select(Customer.email).where(Customer.merchant_id == tenant.merchant.id)
    )
    assert sorted(e or "" for e in emails) == ["", "anna@example.com"]


def test_a_bad_upload_is_explained_and_creates_nothing(
    client, manager, session, import_dir
) -> None:
    page = client.post(
        "/backoffice/members/import",
        data={"file": (io.BytesIO("name\nJosé\n".encode("latin-1")), "latin.csv")},
        content_type="multipart/form-data",
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "not UTF-8" in page
    assert session.scalar(select(func.count(MemberImport.id))) == 0
    assert list(import_dir.iterdir()) == []
    missing = client.post("/backoffice/members/import", data={}, follow_redirects=True)
    assert "Choose a CSV file" in missing.get_data(as_text=True)


def test_starting_without_an_email_or_phone_column_is_refused(client, manager, session) -> None:
    _upload(client, b"who,where\nAnna,Lux\n")
    job = session.scalars(select(MemberImport)).one()
    page = client.post(
        f"/backoffice/imports/{job.id}/columns",
        data={"name": "0", "action": "start"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "e-mail address or the phone number" in page
    session.expire_all()
    assert job.status == ImportStatus.UPLOADED


def test_cli_imports_a_file_with_the_same_service(runner, session, tenant, tmp_path) -> None:
    source = tmp_path / "cli.csv"
    source.write_bytes(CSV)
    result = runner.invoke(
        args=["members", "import", str(source), "--merchant", tenant.merchant.slug]
    )
    assert result.exit_code == 0, result.output
    assert "Imported 2 members" in result.output
    assert "1 line refused" in result.output
    unknown = runner.invoke(args=["members", "import", str(source), "--merchant", "nobody"])
    assert unknown.exit_code != 0
    assert "No merchant" in unknown.output
