-- Connection-local helpers. mask_identifiers replaces anything shaped like a
-- UPN, an NHS number or a UK postcode, so a mis-mapped column cannot carry a
-- raw identifier into a quarantine file.
CREATE OR REPLACE TEMP MACRO mask_identifiers(x) AS
    regexp_replace(
        regexp_replace(
            regexp_replace(x, '[A-Za-z] ?([0-9] ?){11}[0-9A-Za-z]', '[masked]', 'g'),
            '[0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{4}', '[masked]', 'g'),
        '[A-Za-z]{1,2}[0-9][0-9A-Za-z]? ?[0-9][A-Za-z]{2}', '[masked]', 'g');

-- shown returns a value for a quarantine file only when it is one of the
-- expected codes (ok is true), and a placeholder otherwise: an unexpected
-- value is exactly where a mis-mapped name or number would sit.
CREATE OR REPLACE TEMP MACRO shown(x, ok) AS
    CASE WHEN x IS NULL THEN NULL WHEN ok THEN x ELSE '[not shown: unexpected value]' END;

-- demographics joins a record's name, date of birth, postcode and gender into
-- one string with the unit separator (which no one can type into a field):
-- the value tokenise hands to Go, and by which demo_tokens is joined back.
CREATE OR REPLACE TEMP MACRO demographics(fore, sur, dob, pc, sex) AS
    concat_ws(chr(31), coalesce(fore, ''), coalesce(sur, ''), coalesce(dob, ''), coalesce(pc, ''), coalesce(sex, ''));

-- session_distance orders a pupil's sessions outwards from an index date, on
-- each side: the closest half day on either side is smallest (before: the
-- PM of the day before, then its AM; after: the AM of the day after, then
-- its PM), and no two sessions of one side tie. The reference definition of
-- the impact windows (testdata/impact_windows_reference.sql) ranks sessions
-- by it; the pipeline finds them in Go (transforms/windows) in the same order.
CREATE OR REPLACE TEMP MACRO session_distance(session_date, session, index_date) AS
    abs(2 * (session_date - index_date) + CASE WHEN session = 'PM' THEN 1 ELSE 0 END);

-- parse_input_date reads a date in a file's configured date_format
-- (sources.<source>.date_format). ingest redefines it for each load from the
-- files' formats (pipeline/ingest/dates.go, which a test keeps equal to this
-- default): ISO, YYYY-MM-DD, optionally followed by a time of day. A value
-- must look like the format before strptime sees it (a failed try_strptime is
-- slow), and years outside 1900-2999 are invalid (strptime reads "24" as the
-- year 24: a two-digit year is ambiguous, never guessed).
CREATE OR REPLACE TEMP MACRO parse_input_date(file_id, t) AS
    CASE WHEN year(CASE WHEN NOT (substr(t, 5, 1) = '-') THEN NULL WHEN length(t) BETWEEN 8 AND 10 THEN try_strptime(t, '%Y-%m-%d') WHEN length(t) > 10 THEN try_strptime(t, ['%Y-%m-%d %H:%M:%S', '%Y-%m-%d %H:%M']) END::DATE) BETWEEN 1900 AND 2999
         THEN CASE WHEN NOT (substr(t, 5, 1) = '-') THEN NULL WHEN length(t) BETWEEN 8 AND 10 THEN try_strptime(t, '%Y-%m-%d') WHEN length(t) > 10 THEN try_strptime(t, ['%Y-%m-%d %H:%M:%S', '%Y-%m-%d %H:%M']) END::DATE END;

