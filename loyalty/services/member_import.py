"""CSV import of members: check the upload, map its columns, then import it in steps.

The file is saved to disk and never held in memory: each step reads on from the byte offset
the previous one recorded (`MemberImport.byte_offset`), checks up to `STEP_ROWS` records, writes
the refused ones with their line numbers to an error report beside the upload, and merges the
good ones in one set-based statement (PostgreSQL: COPY into a temporary staging table, then one
data-modifying CTE; SQLite: batched inserts). Existing customers (same e-mail or phone in this
business) are skipped and reported, never overwritten. Imported members get no welcome message
and no sign-up bonus: they joined before, elsewhere.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.errors import InvalidInput, LoyaltyError
from loyalty.identity import (
    new_card_number,
    new_qr_secret,
    normalize_email,
    normalize_phone,
    search_key,
)
from loyalty.models import (
    ChannelIdentity,
    ChannelKind,
    Customer,
    ImportStatus,
    LoyaltyMember,
    LoyaltyProgram,
    MemberImport,
    MemberStatus,
    Merchant,
)
from loyalty.services import audit
from loyalty.services.actors import Actor
from loyalty.services.enroll import LANGUAGES

MAX_BYTES = 100 * 1024 * 1024
MAX_LINE_BYTES = 8 * 1024  # a member's row is a few hundred bytes; beyond, it is not one
STEP_ROWS = 10_000
PREVIEW_ROWS = 5
_CHUNK = 64 * 1024
_TOO_LONG = object()

FIELDS: dict[str, str] = {
    "name": "Full name",
    "first_name": "First name",
    "last_name": "Last name",
    "email": "E-mail",
    "phone": "Phone",
    "birthday": "Birthday",
    "language": "Language",
    "consent": "Marketing consent",
    "external_id": "Your customer number",
}
# Header words that name each field, compared lower-cased without spaces, dashes or dots.
_SYNONYMS: dict[str, set[str]] = {
    "name": {"name", "fullname", "customer", "customername", "nom", "nomcomplet"},
    "first_name": {"firstname", "givenname", "forename", "prenom", "prénom", "vorname"},
    "last_name": {"lastname", "surname", "familyname", "nomdefamille", "nachname"},
    "email": {"email", "emailaddress", "mail", "courriel", "adresseemail"},
    "phone": {"phone", "phonenumber", "mobile", "mobilephone", "telephone", "tel", "gsm", "cell"},
    "birthday": {"birthday", "birthdate", "dateofbirth", "dob", "datedenaissance"},
    "language": {"language", "lang", "langue", "sprache", "locale"},
    "consent": {"consent", "marketing", "marketingconsent", "optin", "newsletter", "subscribed"},
    "external_id": {"id", "customerid", "customernumber", "externalid", "reference", "ref"},
}
_YES = {"yes", "y", "true", "1", "x", "oui", "ja", "optin", "subscribed"}
_NO = {"", "no", "n", "false", "0", "non", "nein", "optout", "unsubscribed"}
_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y")


# --- upload --------------------------------------------------------------------------------


def _refuse(path: Path, message: str, field: str = "file") -> InvalidInput:
    path.unlink(missing_ok=True)
    return InvalidInput(message, field=field)


def _header_line(path: Path) -> tuple[bytes, int, bool]:
    """The first line, the byte offset after it, and whether any record follows."""
    with open(path, "rb") as file:
        first = file.readline(MAX_LINE_BYTES + 1)
        if len(first) > MAX_LINE_BYTES and not first.endswith(b"\n"):
            raise _refuse(
                path,
                f"The first line is longer than {MAX_LINE_BYTES:,} bytes: this does not look "
                "like a CSV file with a header row.",
            )
        offset = file.tell()
        has_rows = any(line.strip() for line in iter(lambda: file.readline(_CHUNK), b""))
    return first, offset, has_rows


def _save(stream: IO[bytes], path: Path, max_bytes: int) -> int:
    """Copy the upload to disk in chunks, checking it is UTF-8 text on the way."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    size = 0
    with open(path, "wb") as out:
        while chunk := stream.read(_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise _refuse(path, f"The file is larger than {max_bytes // 1024 // 1024} MB.")
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                raise _refuse(
                    path,
                    "The file is not UTF-8 text. In your spreadsheet, save it as "
                    "“CSV UTF-8 (comma delimited)” and upload it again.",
                ) from None
            if b"\x00" in chunk:
                raise _refuse(path, "The file contains binary data: upload a CSV text file.")
            out.write(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise _refuse(
                path, "The file ends in the middle of a character: it is cut short."
            ) from None
    return size


def save_upload(
    session: Session,
    *,
    merchant: Merchant,
    actor: Actor,
    filename: str,
    stream: IO[bytes],
    directory: Path,
    max_bytes: int = MAX_BYTES,
) -> MemberImport:
    """Check and save an uploaded CSV; nothing is imported yet. Refusals leave nothing behind."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{merchant.id}-{uuid.uuid4().hex}.csv"
    size = _save(stream, path, max_bytes)
    first, offset, has_rows = _header_line(path)
    header_text = first.decode("utf-8").lstrip("\ufeff")
    if not header_text.strip():
        raise _refuse(path, "The file is empty. Export your customers with a header row first.")
    dialect_delimiter = _delimiter(header_text)
    header = next(csv.reader([header_text], delimiter=dialect_delimiter), [])
    header = [column.strip()[:100] for column in header]
    if not any(header):
        raise _refuse(path, "The first line has no column names.")
    if not has_rows:
        raise _refuse(path, "The file has a header row but no customers below it.")
    job = MemberImport(
        merchant_id=merchant.id,
        created_by=actor.user_id,
        filename=(filename or "members.csv")[-200:],
        path=str(path),
        size_bytes=size,
        header=header,
        mapping={"delimiter": dialect_delimiter, "fields": guess_mapping(header)},
        byte_offset=offset,
        line=1,
    )
    session.add(job)
    session.flush()
    return job


def _delimiter(header: str) -> str:
    """Comma unless the header clearly uses semicolons (European Excel) or tabs."""
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


# --- mapping -------------------------------------------------------------------------------


def _plain(word: str) -> str:
    return "".join(c for c in search_key(word) if c.isalnum())


def guess_mapping(header: list[str]) -> dict[str, int]:
    """Field -> column position, from the header's words; each column serves one field."""
    mapping: dict[str, int] = {}
    for position, column in enumerate(header):
        word = _plain(column)
        for field, names in _SYNONYMS.items():
            if field not in mapping and word in {_plain(n) for n in names}:
                mapping[field] = position
                break
    return mapping


def set_mapping(session: Session, *, job: MemberImport, chosen: dict[str, int | None]) -> None:
    """Keep the columns chosen on the mapping page; the import can then start."""
    if job.status not in (ImportStatus.UPLOADED, ImportStatus.READY):
        raise InvalidInput("This import has already started; its columns cannot change now.")
    fields: dict[str, int] = {}
    used: dict[int, str] = {}
    for field, position in chosen.items():
        if field not in FIELDS or position is None:
            continue
        if not 0 <= position < len(job.header):
            raise InvalidInput(f"Choose a column of the file for {FIELDS[field]}.", field=field)
        if position in used:
            raise InvalidInput(
                f"Column “{job.header[position]}” is chosen for both {FIELDS[used[position]]} "
                f"and {FIELDS[field]}. Choose it once.",
                field=field,
            )
        used[position] = field
        fields[field] = position
    if "email" not in fields and "phone" not in fields:
        raise InvalidInput(
            "Choose the column with the e-mail address or the phone number: every member "
            "needs one of them.",
            field="email",
        )
    job.mapping = {**job.mapping, "fields": fields}
    job.status = ImportStatus.READY
    session.flush()


# --- reading records -----------------------------------------------------------------------


@dataclass
class _Cursor:
    """Where reading has got to: the byte after the last full record, and its last line."""

    offset: int
    line: int


def _records(job: MemberImport, cursor: _Cursor) -> Iterator[tuple[int, list[str] | None]]:
    """(first line of the record, its fields) from the cursor on; None for an over-long line.

    The cursor moves as records are handed out, so whoever stops iterating knows exactly where
    to resume. csv.reader takes one line at a time and yields as soon as a record is complete.
    """
    with open(job.path, "rb") as file:
        file.seek(cursor.offset)
        too_long: list[int] = []

        def lines() -> Iterator[str]:
            while raw := file.readline(MAX_LINE_BYTES + 1):
                cursor.line += 1
                if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                    while (rest := file.readline(_CHUNK)) and not rest.endswith(b"\n"):
                        pass  # skip the rest of the line without keeping it
                    too_long.append(cursor.line)
                    yield "\n"
                    continue
                yield raw.decode("utf-8", errors="replace")

        reader = csv.reader(lines(), delimiter=job.mapping.get("delimiter", ","))
        while True:
            start = cursor.line + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error:
                cursor.offset = file.tell()
                yield start, None
                continue
            cursor.offset = file.tell()
            if too_long and too_long[-1] >= start:
                too_long.clear()
                yield start, None
                continue
            if not any(value.strip() for value in fields):
                continue  # a blank line
            yield start, fields


# --- checking one row ----------------------------------------------------------------------


def _birthday(raw: str, today: date) -> date | None:
    if not raw:
        return None
    for fmt in _DATE_FORMATS:
        try:
            value = datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
        if value > today or value.year < 1900:
            raise InvalidInput(f"birthday {raw} is not possible")
        return value
    raise InvalidInput(f"birthday “{raw}” is not a date (write 1990-05-31 or 31/05/1990)")


def _consent(raw: str) -> bool:
    word = _plain(raw)
    if word in _YES:
        return True
    if word in _NO:
        return False
    raise InvalidInput(f"consent “{raw}” should be yes or no")


def clean_row(
    values: list[str], fields: dict[str, int], *, country: str, today: date
) -> dict[str, Any]:
    """The member this row describes, normalised; InvalidInput says what is wrong with it."""

    def cell(field: str) -> str:
        position = fields.get(field)
        if position is None or position >= len(values):
            return ""
        return values[position].strip()

    name = cell("name") or " ".join(p for p in (cell("first_name"), cell("last_name")) if p)
    email = normalize_email(cell("email")) if cell("email") else None
    phone = normalize_phone(cell("phone"), country) if cell("phone") else None
    if email is None and phone is None:
        raise InvalidInput("no e-mail address and no phone number: a member needs one")
    language = cell("language").lower()[:2]
    return {
        "name": name[:120],
        "name_search": search_key(name)[:120],
        "email": email,
        "phone": phone,
        "birthday": _birthday(cell("birthday"), today),
        "language": language if language in LANGUAGES else "en",
        "consent": _consent(cell("consent")) if "consent" in fields else None,
        "external_id": cell("external_id")[:64] or None,
    }


def _consents(consent: bool | None, job: MemberImport, now: datetime) -> dict[str, Any]:
    consents: dict[str, Any] = {"source": {"via": "import", "import_id": job.id}}
    if consent is not None:
        for name in ("marketing_email", "marketing_sms"):
            consents[name] = {"granted": consent, "at": now.isoformat(), "via": "import"}
    return consents


@dataclass(frozen=True)
class PreviewRow:
    line: int
    values: dict[str, str]
    error: str | None


def preview(job: MemberImport, *, country: str, rows: int = PREVIEW_ROWS) -> list[PreviewRow]:
    """The first rows as the import would read them with the current mapping."""
    if not Path(job.path).exists():
        return []  # gone from this server: the import step says so and stops
    fields = job.mapping.get("fields", {})
    cursor = _Cursor(_header_end(job), 1)
    shown: list[PreviewRow] = []
    today = utcnow().date()
    for line, values in _records(job, cursor):
        if values is None:
            shown.append(PreviewRow(line, {}, "the line is too long or not valid CSV"))
        else:
            raw = {f: values[p] if p < len(values) else "" for f, p in fields.items()}
            try:
                clean_row(values, fields, country=country, today=today)
                error = None
            except InvalidInput as refused:
                error = refused.message
            shown.append(PreviewRow(line, raw, error))
        if len(shown) >= rows:
            break
    return shown


def _header_end(job: MemberImport) -> int:
    with open(job.path, "rb") as file:
        file.readline(MAX_LINE_BYTES + 1)
        return file.tell()


# --- the steps -----------------------------------------------------------------------------


def report_path(job: MemberImport) -> Path:
    return Path(job.path + ".errors.csv")


def run_step(
    session: Session,
    *,
    job: MemberImport,
    max_rows: int = STEP_ROWS,
    now: datetime | None = None,
) -> MemberImport:
    """Import up to `max_rows` more records and record how far the import got. Flushes only."""
    session.refresh(job, with_for_update=True)  # two tabs on one import: one step at a time
    if job.status in (ImportStatus.DONE, ImportStatus.FAILED):
        return job
    if job.status == ImportStatus.UPLOADED:
        raise InvalidInput("Choose which column holds what before starting the import.")
    now = now or utcnow()
    if not Path(job.path).exists():
        job.status = ImportStatus.FAILED
        job.error = "The uploaded file is no longer on the server. Upload it again."
        job.finished_at = now
        session.flush()
        return job
    if job.status == ImportStatus.READY:
        job.status = ImportStatus.RUNNING
        job.started_at = now
    merchant = session.get(Merchant, job.merchant_id)
    program = session.scalars(
        select(LoyaltyProgram).where(LoyaltyProgram.merchant_id == job.merchant_id)
    ).first()
    assert merchant is not None
    assert program is not None
    fields = job.mapping.get("fields", {})
    cursor = _Cursor(job.byte_offset, job.line)
    good: list[dict[str, Any]] = []
    errors: list[tuple[int, str]] = []
    seen: set[str] = set()  # e-mails and phones of this step: the database knows earlier ones
    read = 0
    finished = True
    for line, values in _records(job, cursor):
        read += 1
        if values is None:
            errors.append((line, f"line longer than {MAX_LINE_BYTES:,} bytes or not valid CSV"))
        else:
            try:
                row = clean_row(values, fields, country=merchant.default_country, today=now.date())
            except InvalidInput as refused:
                errors.append((line, refused.message))
            else:
                keys = {k for k in (row["email"], row["phone"]) if k}
                if keys & seen:
                    errors.append((line, "skipped: the same e-mail or phone is on an earlier line"))
                    job.rows_duplicate += 1
                else:
                    seen |= keys
                    row["line"] = line
                    row["consents"] = _consents(row.pop("consent"), job, now)
                    good.append(row)
        if read >= max_rows:
            finished = False
            break
    duplicates = _merge(session, job=job, program=program, rows=good, now=now) if good else []
    errors.extend((line, f"skipped: {why}") for line, why in duplicates)
    failed = sum(1 for _line, message in errors if not message.startswith("skipped:"))
    job.rows_read += read
    job.rows_failed += failed
    job.rows_duplicate += len(duplicates)
    job.rows_imported += len(good) - len(duplicates)
    job.report_bytes = _write_report(job, sorted(errors))
    job.byte_offset = cursor.offset
    job.line = cursor.line
    if finished:
        job.status = ImportStatus.DONE
        job.finished_at = now
        audit.record(
            session,
            merchant_id=job.merchant_id,
            actor=Actor(user_id=job.created_by, label="import"),
            action="members.imported",
            target_type="member_import",
            target_id=job.id,
            imported=job.rows_imported,
            duplicates=job.rows_duplicate,
            failed=job.rows_failed,
        )
    session.flush()
    return job


def run_to_end(session: Session, *, job: MemberImport, commit: Any) -> Iterator[MemberImport]:
    """Every remaining step, committing after each (the CLI); yields the job after each step."""
    while job.status not in (ImportStatus.DONE, ImportStatus.FAILED):
        run_step(session, job=job)
        commit()
        yield job


def _write_report(job: MemberImport, errors: list[tuple[int, str]]) -> int:
    """Append this step's refusals; lines a failed step wrote before are cut off first."""
    path = report_path(job)
    with open(path, "a+b") as file:
        file.truncate(job.report_bytes)
        file.seek(job.report_bytes)
        if job.report_bytes == 0:
            file.write(b"line,problem\r\n")
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerows(errors)
        file.write(buffer.getvalue().encode("utf-8"))
        return file.tell()


def _merge(
    session: Session,
    *,
    job: MemberImport,
    program: LoyaltyProgram,
    rows: list[dict[str, Any]],
    now: datetime,
) -> list[tuple[int, str]]:
    """Insert the new members; return (line, why) for the rows skipped as existing customers."""
    numbers: set[str] = set()
    for row in rows:
        row["card_number"] = _fresh_number(numbers)
        row["qr_secret"] = new_qr_secret()
    if session.get_bind().dialect.name == "postgresql":
        return _merge_postgresql(session, job=job, program=program, rows=rows, now=now)
    return _merge_batched(session, job=job, program=program, rows=rows, now=now)


def _fresh_number(taken: set[str]) -> str:
    while (number := new_card_number()) in taken:
        pass
    taken.add(number)
    return number


def _why(row: dict[str, Any], emails: set[str], phones: set[str]) -> str:
    if row["email"] and row["email"] in emails:
        return f"{row['email']} is already a member"
    return f"{row['phone']} is already a member"


# SQLite: the same work as batched inserts, a few hundred rows per statement.
_SQLITE_IN = 500


def _existing(session: Session, column: Any, merchant_id: int, values: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(values), _SQLITE_IN):
        chunk = values[start : start + _SQLITE_IN]
        found |= set(
            session.scalars(
                select(column).where(Customer.merchant_id == merchant_id, column.in_(chunk))
            )
        )
    return found


def _taken_numbers(session: Session, program_id: int, numbers: list[str]) -> set[str]:
    taken: set[str] = set()
    for start in range(0, len(numbers), _SQLITE_IN):
        taken |= set(
            session.scalars(
                select(LoyaltyMember.card_number).where(
                    LoyaltyMember.program_id == program_id,
                    LoyaltyMember.card_number.in_(numbers[start : start + _SQLITE_IN]),
                )
            )
        )
    return taken


def _merge_batched(
    session: Session,
    *,
    job: MemberImport,
    program: LoyaltyProgram,
    rows: list[dict[str, Any]],
    now: datetime,
) -> list[tuple[int, str]]:
    merchant_id = job.merchant_id
    emails = _existing(
        session, Customer.email, merchant_id, [r["email"] for r in rows if r["email"]]
    )
    phones = _existing(
        session, Customer.phone, merchant_id, [r["phone"] for r in rows if r["phone"]]
    )
    skipped = [r for r in rows if r["email"] in emails or r["phone"] in phones]
    fresh = [r for r in rows if not (r["email"] in emails or r["phone"] in phones)]
    taken = _taken_numbers(session, program.id, [r["card_number"] for r in fresh])
    numbers = {r["card_number"] for r in fresh} | taken
    for row in fresh:
        if row["card_number"] in taken:
            row["card_number"] = _fresh_number(numbers)
    if fresh:
        customer_ids = session.scalars(
            insert(Customer).returning(Customer.id, sort_by_parameter_order=True),
            [
                {
                    "merchant_id": merchant_id,
                    "name": r["name"],
                    "name_search": r["name_search"],
                    "email": r["email"],
                    "phone": r["phone"],
                    "birthday": r["birthday"],
                    "language": r["language"],
                    "consents": r["consents"],
                    "external_id": r["external_id"],
                    "created_at": now,
                }
                for r in fresh
            ],
        ).all()
        member_ids = session.scalars(
            insert(LoyaltyMember).returning(LoyaltyMember.id, sort_by_parameter_order=True),
            [
                {
                    "merchant_id": merchant_id,
                    "program_id": program.id,
                    "customer_id": customer_id,
                    "card_number": r["card_number"],
                    "qr_secret": r["qr_secret"],
                    "points_balance": 0,
                    "lifetime_points": 0,
                    "status": MemberStatus.ACTIVE,
                    "enrolled_at": now,
                    "last_activity_at": now,
                    "updated_at": now,
                }
                for r, customer_id in zip(fresh, customer_ids, strict=True)
            ],
        ).all()
        channels = [
            {
                "merchant_id": merchant_id,
                "member_id": member_id,
                "kind": kind,
                "address": address,
                "created_at": now,
            }
            for r, member_id in zip(fresh, member_ids, strict=True)
            for kind, address in ((ChannelKind.EMAIL, r["email"]), (ChannelKind.SMS, r["phone"]))
            if address
        ]
        if channels:
            session.execute(insert(ChannelIdentity).prefix_with("OR IGNORE"), channels)
    return [(r["line"], _why(r, emails, phones)) for r in skipped]


# PostgreSQL: COPY into a temporary staging table, then set-based statements.
_STAGING = """
CREATE TEMPORARY TABLE IF NOT EXISTS member_import_staging (
    line integer, name text, name_search text, email text, phone text, birthday date,
    language text, consents text, external_id text, card_number text, qr_secret text
) ON COMMIT DROP
"""
_STAGING_COLUMNS = (
    "line", "name", "name_search", "email", "phone", "birthday", "language", "consents",
    "external_id", "card_number", "qr_secret",
)  # fmt: skip
_KNOWN = """
EXISTS (SELECT 1 FROM customers c WHERE c.merchant_id = :merchant_id AND c.email = s.email)
OR EXISTS (SELECT 1 FROM customers c WHERE c.merchant_id = :merchant_id AND c.phone = s.phone)
"""
_SKIP_KNOWN = f"""
DELETE FROM member_import_staging s WHERE {_KNOWN}
RETURNING s.line, s.email, s.phone,
    EXISTS (SELECT 1 FROM customers c WHERE c.merchant_id = :merchant_id AND c.email = s.email)
"""
_TAKEN_NUMBERS = """
SELECT s.line FROM member_import_staging s
JOIN loyalty_members m ON m.program_id = :program_id AND m.card_number = s.card_number
"""
_MERGE = """
WITH fresh AS MATERIALIZED (
    SELECT s.*,
        nextval(pg_get_serial_sequence('customers', 'id')) AS customer_id,
        nextval(pg_get_serial_sequence('loyalty_members', 'id')) AS member_id
    FROM member_import_staging s
), new_customers AS (
    INSERT INTO customers (id, merchant_id, name, name_search, email, phone, birthday,
        language, consents, external_id, created_at)
    SELECT customer_id, :merchant_id, name, name_search, email, phone, birthday,
        language, CAST(consents AS json), external_id, :now
    FROM fresh ORDER BY line
), new_members AS (
    INSERT INTO loyalty_members (id, merchant_id, program_id, customer_id, card_number,
        qr_secret, points_balance, lifetime_points, status, enrolled_at, last_activity_at,
        updated_at)
    SELECT member_id, :merchant_id, :program_id, customer_id, card_number, qr_secret, 0, 0,
        'active', :now, :now, :now
    FROM fresh ORDER BY line
)
INSERT INTO channel_identities (merchant_id, member_id, kind, address, created_at)
SELECT :merchant_id, member_id, 'email', email, :now FROM fresh WHERE email IS NOT NULL
UNION ALL
SELECT :merchant_id, member_id, 'sms', phone, :now FROM fresh WHERE phone IS NOT NULL
ON CONFLICT DO NOTHING
"""


def _merge_postgresql(
    session: Session,
    *,
    job: MemberImport,
    program: LoyaltyProgram,
    rows: list[dict[str, Any]],
    now: datetime,
) -> list[tuple[int, str]]:
    connection = session.connection()
    connection.execute(text(_STAGING))
    connection.execute(text("TRUNCATE member_import_staging"))
    cursor = connection.connection.driver_connection.cursor()  # psycopg 3: COPY
    copy_sql = f"COPY member_import_staging ({', '.join(_STAGING_COLUMNS)}) FROM STDIN"
    with cursor.copy(copy_sql) as copy:
        for row in rows:
            copy.write_row(
                [
                    json.dumps(row["consents"]) if name == "consents" else row[name]
                    for name in _STAGING_COLUMNS
                ]
            )
    ids = {"merchant_id": job.merchant_id, "program_id": program.id}
    skipped = [
        (line, f"{email if by_email else phone} is already a member")
        for line, email, phone, by_email in connection.execute(text(_SKIP_KNOWN), ids)
    ]
    # Card numbers are random: a clash with an existing card is rare, but it is checked.
    clashes = connection.execute(text(_TAKEN_NUMBERS), ids).scalars().all()
    if clashes:
        numbers: set[str] = set()
        for line in clashes:
            connection.execute(
                text("UPDATE member_import_staging SET card_number = :n WHERE line = :line"),
                {"n": _fresh_number(numbers), "line": line},
            )
        if connection.execute(text(_TAKEN_NUMBERS), ids).first() is not None:
            raise LoyaltyError("Card numbers clashed twice in a row; run the import step again.")
    connection.execute(text(_MERGE), {**ids, "now": now})
    return skipped
