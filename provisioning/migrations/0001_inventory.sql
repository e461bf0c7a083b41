-- The fleet inventory and the location table.
-- One text for SQLite and PostgreSQL: TEXT and BIGINT columns only, no serial ids, times as Unix seconds.

CREATE TABLE domains (
    name        TEXT PRIMARY KEY,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    domain        TEXT NOT NULL REFERENCES domains (name),
    extension     TEXT NOT NULL,
    first_name    TEXT NOT NULL DEFAULT '',
    last_name     TEXT NOT NULL DEFAULT '',
    display_name  TEXT NOT NULL DEFAULT '',
    email         TEXT NOT NULL DEFAULT '',
    department    TEXT NOT NULL DEFAULT '',
    voicemail     TEXT NOT NULL DEFAULT '',
    -- SIP digest HA1 = H(extension:domain:password), hex; NULL when the user has no SIP password.
    ha1_md5       TEXT,
    ha1_sha256    TEXT,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (domain, extension),
    CHECK ((ha1_md5 IS NULL) = (ha1_sha256 IS NULL))
);

CREATE TABLE devices (
    -- 12 lower-case hex digits
    mac         TEXT PRIMARY KEY,
    domain      TEXT NOT NULL REFERENCES domains (name),
    model       TEXT NOT NULL,
    protocol    TEXT NOT NULL CHECK (protocol IN ('sccp', 'unistim', 'sip')),
    updated_at  BIGINT NOT NULL
);

CREATE TABLE device_keys (
    mac       TEXT NOT NULL REFERENCES devices (mac) ON DELETE CASCADE,
    position  BIGINT NOT NULL CHECK (position >= 1),
    kind      TEXT NOT NULL CHECK (kind IN ('line', 'speed_dial', 'blf')),
    -- the line number of a line key; for other keys the line they belong to
    line      BIGINT NOT NULL CHECK (line >= 1),
    -- an extension of the device's domain
    target    TEXT NOT NULL,
    label     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (mac, position)
);

CREATE INDEX device_keys_by_target ON device_keys (target);

-- The location table (RFC 3261 §10): bindings of an address of record to contacts, kept across restarts.
CREATE TABLE registrations (
    domain      TEXT NOT NULL,
    extension   TEXT NOT NULL,
    contact     TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    -- q-value in thousandths (q=0.5 is 500)
    q           BIGINT NOT NULL DEFAULT 1000,
    call_id     TEXT NOT NULL DEFAULT '',
    cseq        BIGINT NOT NULL DEFAULT 0,
    -- Path header values (RFC 3327), comma-separated, in order
    path        TEXT NOT NULL DEFAULT '',
    -- where the REGISTER came from: transport and source address
    transport   TEXT NOT NULL DEFAULT '',
    received    TEXT NOT NULL DEFAULT '',
    user_agent  TEXT NOT NULL DEFAULT '',
    -- the gateway session that owns a legacy line's binding; empty for SIP devices
    owner       TEXT NOT NULL DEFAULT '',
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (domain, extension, contact)
);

CREATE INDEX registrations_by_expiry ON registrations (expires_at);
