// The centre's schema in PostgreSQL, as frozen migrations (the SQL each one ran; never edited,
// only appended). Schema `promo` mirrors the central SQLite store row for row (same tables, same
// columns: text as text, INTEGER as bigint, BLOB as bytea), so a copy is exact and can be checked
// digest against digest. Schema `reporting` holds the views people and reporting tools query, with
// typed columns; the role `promo_reporting` may read them and nothing else (docs/OPERATIONS.md,
// "The centre in PostgreSQL").
//
// swift-format-ignore-file

enum PostgresSchema {
    /// The central SQLite schema the `promo` tables mirror: a store of another schema is refused.
    /// `v7-rules-1.9` and `v8-rules-1.9.1` changed data only (they folded again what earlier rules
    /// decided otherwise), so the tables are those of `v6-dashboard`.
    static let mirroredCentralSchema = "v8-rules-1.9.1"

    static let migrations: [(id: String, sql: String)] = [
        (
            "pg1-mirror-v5",
            #"""
CREATE SCHEMA promo;
CREATE TABLE promo.meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE promo.office (
    code text PRIMARY KEY,
    token_hash text NOT NULL UNIQUE,
    created_at text NOT NULL,
    revoked_at text,
    last_sequence bigint NOT NULL DEFAULT 0,
    last_hash text NOT NULL,
    merged_into text REFERENCES promo.office(code),
    merged_at text
);
CREATE TABLE promo.office_seen (
    office text PRIMARY KEY,
    software text,
    protocol bigint,
    schema bigint,
    seen_at text NOT NULL
);
CREATE TABLE promo.changeset (
    office text NOT NULL REFERENCES promo.office(code),
    sequence bigint NOT NULL,
    hash text NOT NULL,
    previous_hash text NOT NULL,
    change_count bigint NOT NULL,
    body bytea NOT NULL,
    received_at text NOT NULL,
    position bigint UNIQUE,
    chain_hash text,
    PRIMARY KEY (office, sequence)
);
CREATE TABLE promo.journal (
    position bigint PRIMARY KEY,
    kind text NOT NULL,
    payload text NOT NULL,
    at text NOT NULL,
    previous_hash text NOT NULL,
    hash text NOT NULL
);
CREATE TABLE promo.record (
    tbl text NOT NULL,
    id text NOT NULL,
    office text NOT NULL,
    fields text NOT NULL,
    clocks text NOT NULL,
    deleted_at text,
    seq bigint NOT NULL UNIQUE,
    aggregate text,
    held bigint NOT NULL DEFAULT 0,
    echo_office text,
    echo_sequence bigint,
    PRIMARY KEY (tbl, id)
);
CREATE INDEX record_office_seq ON promo.record(office, seq);
CREATE INDEX record_aggregate ON promo.record(aggregate);
CREATE TABLE promo.history (
    tbl text NOT NULL,
    id text NOT NULL,
    aggregate text NOT NULL,
    hlc text NOT NULL,
    op text NOT NULL,
    fields text NOT NULL,
    writer text,
    position bigint,
    PRIMARY KEY (tbl, id, hlc)
);
CREATE INDEX history_aggregate ON promo.history(aggregate);
CREATE TABLE promo.totals_pending (office text PRIMARY KEY);
CREATE SCHEMA reporting;
CREATE VIEW reporting.programmes AS
    SELECT id, office, fields::jsonb ->> 'code' AS code, fields::jsonb ->> 'name' AS name,
           (fields::jsonb ->> 'start_year')::integer AS start_year, (fields::jsonb ->> 'end_year')::integer AS end_year,
           fields::jsonb ->> 'note' AS note
    FROM promo.record WHERE tbl = 'program' AND deleted_at IS NULL;
CREATE VIEW reporting.projects AS
    SELECT id, office, fields::jsonb ->> 'province' AS province, fields::jsonb ->> 'code' AS code,
           fields::jsonb ->> 'name' AS name, fields::jsonb ->> 'category' AS category,
           fields::jsonb ->> 'fund_source' AS fund_source, fields::jsonb ->> 'beneficiary' AS beneficiary,
           fields::jsonb ->> 'tax_code' AS tax_code, (fields::jsonb ->> 'year')::integer AS year,
           (fields::jsonb ->> 'total_cost')::bigint AS total_cost, (fields::jsonb ->> 'requested_support')::bigint AS requested_support,
           (fields::jsonb ->> 'approved_support')::bigint AS approved_support, fields::jsonb ->> 'status' AS status,
           fields::jsonb ->> 'program_id' AS programme_id, fields::jsonb ->> 'commune' AS commune,
           (fields::jsonb ->> 'counterpart_funds')::bigint AS counterpart_funds
    FROM promo.record WHERE tbl = 'project' AND deleted_at IS NULL;
CREATE VIEW reporting.disbursements AS
    SELECT id, office, fields::jsonb ->> 'project_id' AS project_id, fields::jsonb ->> 'kind' AS kind,
           (fields::jsonb ->> 'amount')::bigint AS amount,
           CASE WHEN fields::jsonb ->> 'kind' = 'recovery' THEN -(fields::jsonb ->> 'amount')::bigint
                ELSE (fields::jsonb ->> 'amount')::bigint END AS signed_amount,
           fields::jsonb ->> 'voucher' AS voucher, (fields::jsonb ->> 'paid_on')::date AS paid_on, held <> 0 AS held
    FROM promo.record WHERE tbl = 'disbursement' AND deleted_at IS NULL;
CREATE VIEW reporting.plan_lines AS
    SELECT id, office, (fields::jsonb ->> 'year')::integer AS year, fields::jsonb ->> 'fund_source' AS fund_source,
           (fields::jsonb ->> 'amount')::bigint AS amount, fields::jsonb ->> 'note' AS note
    FROM promo.record WHERE tbl = 'plan_line' AND deleted_at IS NULL;
CREATE VIEW reporting.province_totals AS
    SELECT id, fields::jsonb ->> 'province' AS province, (fields::jsonb ->> 'year')::integer AS year,
           fields::jsonb ->> 'fund_source' AS fund_source, (fields::jsonb ->> 'plan_amount')::bigint AS plan_amount,
           (fields::jsonb ->> 'disbursed_amount')::bigint AS disbursed_amount
    FROM promo.record WHERE tbl = 'province_total' AND deleted_at IS NULL;
CREATE VIEW reporting.disbursed_totals AS
    SELECT id, fields::jsonb ->> 'province' AS province, (fields::jsonb ->> 'year')::integer AS year,
           fields::jsonb ->> 'fund_source' AS fund_source, (fields::jsonb ->> 'report_group')::integer AS report_group,
           (fields::jsonb ->> 'paid_on')::date AS paid_on, (fields::jsonb ->> 'amount')::bigint AS amount
    FROM promo.record WHERE tbl = 'disbursed_total' AND deleted_at IS NULL;
CREATE VIEW reporting.conflicts AS
    SELECT id, office, fields::jsonb ->> 'table' AS record_table, fields::jsonb ->> 'row_id' AS row_id,
           fields::jsonb ->> 'aggregate_id' AS aggregate_id, fields::jsonb ->> 'writer' AS writer,
           fields::jsonb ->> 'rule' AS rule, fields::jsonb ->> 'message' AS message,
           (fields::jsonb ->> 'mine')::jsonb AS mine, (fields::jsonb ->> 'theirs')::jsonb AS theirs,
           fields::jsonb ->> 'resolution' AS resolution, fields::jsonb ->> 'resolved_by' AS resolved_by
    FROM promo.record WHERE tbl = 'conflict' AND deleted_at IS NULL;
DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'promo_reporting') THEN CREATE ROLE promo_reporting NOLOGIN; END IF; END $$;
GRANT USAGE ON SCHEMA reporting TO promo_reporting;
GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO promo_reporting;
REVOKE ALL ON SCHEMA promo FROM PUBLIC
"""#
        ),
        (
            "pg2-mirror-v6",
            #"""
ALTER TABLE promo.office_seen ADD COLUMN report_health text;
ALTER TABLE promo.office_seen ADD COLUMN report_reason text;
ALTER TABLE promo.office_seen ADD COLUMN report_pending bigint;
ALTER TABLE promo.office_seen ADD COLUMN report_pending_since text;
ALTER TABLE promo.office_seen ADD COLUMN report_conflicts bigint;
ALTER TABLE promo.office_seen ADD COLUMN report_verified_at text;
ALTER TABLE promo.office_seen ADD COLUMN report_verify text;
ALTER TABLE promo.office_seen ADD COLUMN report_epoch text;
ALTER TABLE promo.office_seen ADD COLUMN last_pull_at text;
ALTER TABLE promo.office_seen ADD COLUMN bytes_day text;
ALTER TABLE promo.office_seen ADD COLUMN bytes bigint NOT NULL DEFAULT 0;
CREATE TABLE promo.dashboard_user (
    name text PRIMARY KEY,
    password_hash text NOT NULL,
    created_at text NOT NULL,
    disabled_at text
);
CREATE TABLE promo.dashboard_login (
    id bigint PRIMARY KEY,
    at text NOT NULL,
    username text NOT NULL,
    address text NOT NULL,
    outcome text NOT NULL
)
"""#
        ),
        (
            "pg3-follow-marks",
            #"""
CREATE TABLE promo.follow_mark (key text PRIMARY KEY, value text NOT NULL)
"""#
        ),
        (
            "pg4-serving-lease",
            #"""
CREATE TABLE promo.serving (
    id integer PRIMARY KEY CHECK (id = 1),
    holder text NOT NULL,
    incarnation text NOT NULL,
    since timestamptz NOT NULL,
    renewed_at timestamptz NOT NULL,
    lease_seconds integer NOT NULL
)
"""#
        ),
    ]
}
