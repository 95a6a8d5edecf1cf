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
