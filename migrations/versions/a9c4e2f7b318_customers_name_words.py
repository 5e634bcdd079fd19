"""customers: find a member by any word of the name ("kayser" finds "Émilie Test-Kayser")

The till and the member list matched the start of the whole name only, so a surname found
nobody. A name now also matches where one of its words starts (`LIKE '% kayser%'`), which on
PostgreSQL reads a trigram index (pg_trgm: a trusted extension, so the database's owner may
create it). SQLite has no trigrams and scans; it gets a plain index of the same name so that
the schema matches the models on both.

Revision ID: a9c4e2f7b318
Revises: f2c8a4e6b195
Create Date: 2026-11-26 15:05:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'a9c4e2f7b318'
down_revision = 'f2c8a4e6b195'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
    op.create_index(
        'ix_customers_name_words',
        'customers',
        ['name_search'],
        unique=False,
        postgresql_using='gin',
        postgresql_ops={'name_search': 'gin_trgm_ops'},
    )


def downgrade():
    op.drop_index('ix_customers_name_words', table_name='customers')
