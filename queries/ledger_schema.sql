-- The privacy ledger, in its own file beside the warehouse: it records every
-- release's spending and must outlive the warehouse (rebuilt after a key
-- rotation). Statements are idempotent; they run on every open.
CREATE TABLE IF NOT EXISTS privacy_ledger (
    release_id  VARCHAR NOT NULL,
    scope       VARCHAR NOT NULL,   -- trust / academic years
    epsilon     DOUBLE NOT NULL,
    delta       DOUBLE NOT NULL,
    state       VARCHAR NOT NULL,   -- drawn (noise drawn, spent), pending (final, awaiting approval) or published
    fingerprint VARCHAR NOT NULL,   -- inputs, configuration, key and code
    recorded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (release_id, scope)
);
CREATE TABLE IF NOT EXISTS approvals (
    release_id  VARCHAR PRIMARY KEY, -- a final release
    approved_by VARCHAR NOT NULL,    -- the named person who approved it
    approved_at TIMESTAMP NOT NULL
);
