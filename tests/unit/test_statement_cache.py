"""Hand-written hot statements stay short enough for psycopg to keep their parsed form."""

from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH

from loyalty.db import compact_sql
from loyalty.services import earn


def test_compact_sql_drops_comments_and_collapses_whitespace() -> None:
    sql = """
    SELECT a,   b  -- the two columns
    FROM t
        WHERE a = %(a)s  -- and a comment, 'quoted'
    """
    assert compact_sql(sql) == "SELECT a, b FROM t WHERE a = %(a)s"


def test_the_one_statement_earn_fits_psycopgs_statement_cache() -> None:
    # Any longer and psycopg parses it again at every earn: about 50 µs of CPU, a sixth of one.
    # If it grows past the limit, shorten it (repeated casts can become one CTE column).
    assert len(earn._EARN_PSYCOPG.encode()) <= MAX_CACHED_STATEMENT_LENGTH
