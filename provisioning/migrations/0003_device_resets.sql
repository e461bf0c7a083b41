-- Reset requests: `crossbar import --reset-changed` writes one row per device whose rendered
-- configuration changed; the running gateway takes them (reads and deletes) and resets the registered
-- phones so they fetch their new files.

CREATE TABLE device_resets (
    -- 12 lower-case hex digits
    mac           TEXT PRIMARY KEY,
    requested_at  BIGINT NOT NULL
);
