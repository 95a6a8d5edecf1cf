-- The warehouse: pseudonymised, so still personal data, kept in the trust's
-- private state folder. It holds keyed tokens and integer surrogate keys,
-- never a raw UPN, NHS number, name, date of birth or postcode.
-- Statements are idempotent; they run on every open.

-- Views left by an Arrow scan of a run that died mid-way read a stream that
-- no longer exists; they hold no data.
DROP VIEW IF EXISTS upn_tokens_arrow;
DROP VIEW IF EXISTS nhs_tokens_arrow;
DROP VIEW IF EXISTS demo_tokens_arrow;
DROP VIEW IF EXISTS attendance_codes_arrow;
DROP VIEW IF EXISTS attendance_session_marks_arrow;
DROP VIEW IF EXISTS attendance_dict_arrow;
CREATE TABLE IF NOT EXISTS key_info (
    fingerprint VARCHAR NOT NULL,   -- which key made the tokens below
    created_at  TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS pupils (
    pupil_key  BIGINT PRIMARY KEY,  -- surrogate, from pupil_keys
    upn_token  VARCHAR NOT NULL,    -- HMAC of the UPN
    nhs_token  VARCHAR,             -- HMAC of the NHS number, when the roster has a valid one
    school_urn VARCHAR NOT NULL,
    year_group INTEGER NOT NULL,    -- 0 is reception
    fsm        BOOLEAN,
    sen        VARCHAR,             -- N, K or E
    gender     VARCHAR
);
CREATE TABLE IF NOT EXISTS pupil_keys (
    upn_token  VARCHAR PRIMARY KEY, -- HMAC of the UPN
    pupil_key  BIGINT NOT NULL      -- its surrogate, kept for as long as the warehouse
);
CREATE TABLE IF NOT EXISTS input_files (
    file_id     INTEGER PRIMARY KEY,
    source      VARCHAR NOT NULL,   -- roster, attendance or participation
    path        VARCHAR NOT NULL,
    sha256      VARCHAR NOT NULL,   -- content hash: an unchanged file is not read again
    rows_read        BIGINT NOT NULL,
    rows_loaded      BIGINT NOT NULL,
    rows_quarantined BIGINT NOT NULL,
    rows_duplicate   BIGINT NOT NULL,
    quarantined_by_reason VARCHAR NOT NULL, -- JSON object: reason -> rows
    run_id      VARCHAR NOT NULL,   -- the run that read it
    roster_sha256 VARCHAR NOT NULL, -- the roster it was checked against
    size_bytes  BIGINT NOT NULL,    -- size, mtime, ctime and inode: a stat cache. An
    mtime_ns    BIGINT NOT NULL,    -- attendance file with all four unchanged keeps its
    ctime_ns    BIGINT NOT NULL,    -- hash (as git does); ctime cannot be set back by a
    inode       BIGINT NOT NULL     -- user, and a copied file has a new inode
);
-- How each file was read when not by the defaults (column mapping, layout,
-- date format, encoding): a file read another way is read again. Added after
-- version 8 was stamped; '' (the defaults) for files read before.
ALTER TABLE input_files ADD COLUMN IF NOT EXISTS format VARCHAR DEFAULT '';
-- What besides the roster an attendance file was checked against (schools,
-- terms, code: ingest.Options.AttendanceContext); a file read in another
-- context is read again. Added in version 10; '' for files read before,
-- which are therefore read again once.
ALTER TABLE input_files ADD COLUMN IF NOT EXISTS context VARCHAR DEFAULT '';
-- A session's half-day, mark and category are enums: one byte each instead of
-- a string, which makes writing millions of sessions several times cheaper,
-- while queries still compare them with text ('PM', 'AUTH'). The marks are
-- schemas.AttendanceCodes and the categories schemas.Category, in their order
-- (a test keeps them equal). A change to either needs a new schema version
-- and a migration (warehouse.migrations).
CREATE TYPE IF NOT EXISTS session_half AS ENUM ('AM', 'PM');
CREATE TYPE IF NOT EXISTS attendance_mark AS ENUM (
    '/', '\', 'L', 'K', 'V', 'P', 'W', 'B', 'C1', 'M', 'J1', 'S', 'C2', 'C', 'T', 'R', 'I', 'E',
    'G', 'N', 'O', 'U', 'D', 'X', 'Q', 'Y1', 'Y2', 'Y3', 'Y4', 'Y5', 'Y6', 'Y7', 'Z', '#', '-');
CREATE TYPE IF NOT EXISTS attendance_category AS ENUM ('P', 'AEA', 'AUTH', 'UNAUTH', 'NPS', 'PENDING');
-- What validation made of a row read this run (validate_attendance.sql and
-- resolve_attendance.sql's temp tables). Queries compare these columns with typed constants
-- ('PM'::session_half): against a text literal, DuckDB casts the column to
-- text, row by row.
CREATE TYPE IF NOT EXISTS row_outcome AS ENUM ('loaded', 'duplicate', 'quarantined');
CREATE TABLE IF NOT EXISTS sessions (
    file_id      INTEGER NOT NULL,  -- the attendance file the mark came from
    pupil_key    BIGINT NOT NULL,
    school_urn   INTEGER NOT NULL,  -- the school that recorded the mark (the enrolment): its URN as a number; lpad(school_urn, 6, '0') is the URN
    session_date DATE NOT NULL,
    session      session_half NOT NULL,
    mark         attendance_mark NOT NULL,        -- DfE code
    category     attendance_category NOT NULL     -- P, AEA, AUTH, UNAUTH, NPS or PENDING
);
-- Each pupil's possible sessions per school and term, summarised from
-- sessions (summarise_sessions.sql gives the definitions): the DP aggregation
-- and the impact windows read these 60,000 rows of a trust instead of its
-- 7.8 million sessions, and a nightly run adds only its new marks. Commit
-- keeps it equal to sessions in the same transaction; it is rebuilt whenever
-- sessions are deleted or the terms change (pupil_terms_calendar records the
-- terms it was built for).
CREATE TABLE IF NOT EXISTS pupil_terms (
    pupil_key     BIGINT NOT NULL,
    school_urn    VARCHAR NOT NULL,
    term_id       VARCHAR NOT NULL,
    possible      BIGINT NOT NULL,
    authorised    BIGINT NOT NULL,
    unauthorised  BIGINT NOT NULL,
    -- The term's half days as bits: half day h = day_in_term x 2 (+ 1 for
    -- PM) is bit 63 - h % 64 (most significant first) of word h / 64, set
    -- for a possible session; the attended words likewise for P or AEA.
    -- Six words hold 192 days, the longest a term may span (config checks).
    -- Updating words, then checkpointing them, costs a nightly run far less
    -- than the bitstring columns they replaced (36 against 65 ms at close).
    possible_w0   UBIGINT NOT NULL,
    possible_w1   UBIGINT NOT NULL,
    possible_w2   UBIGINT NOT NULL,
    possible_w3   UBIGINT NOT NULL,
    possible_w4   UBIGINT NOT NULL,
    possible_w5   UBIGINT NOT NULL,
    attended_w0   UBIGINT NOT NULL,
    attended_w1   UBIGINT NOT NULL,
    attended_w2   UBIGINT NOT NULL,
    attended_w3   UBIGINT NOT NULL,
    attended_w4   UBIGINT NOT NULL,
    attended_w5   UBIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS pupil_terms_calendar (calendar VARCHAR NOT NULL);
-- What the pupils and participation tables were built in (ingest.Commit):
-- a description of the configuration, keys and code they depend on, and the
-- linkage report (exact counts: private). A run whose roster and
-- participation files and context are unchanged keeps both tables and
-- reports this linkage instead of reading the files again.
CREATE TABLE IF NOT EXISTS roster_state (
    context VARCHAR NOT NULL,
    linkage VARCHAR NOT NULL        -- JSON: ingest.Linkage per programme
);
CREATE TABLE IF NOT EXISTS participation (
    programme  VARCHAR NOT NULL,
    pupil_key  BIGINT,              -- NULL when the record links to no roster pupil
    linked_by  VARCHAR,             -- the match key it linked on (schemas.MatchKeys)
    event_date DATE NOT NULL,
    event      VARCHAR NOT NULL,
    attended   BOOLEAN NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id      VARCHAR PRIMARY KEY,
    started_at  TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    outcome     VARCHAR NOT NULL,   -- running, published, republished, pending, refused, failed
    kind        VARCHAR NOT NULL,   -- provisional or final
    release_id  VARCHAR,
    epsilon     DOUBLE NOT NULL,    -- privacy budget this run spent (0 when it drew no noise)
    inputs      VARCHAR,            -- JSON: per file, rows read and whether it was read this run
    message     VARCHAR             -- the error, for a failed or refused run
);
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
