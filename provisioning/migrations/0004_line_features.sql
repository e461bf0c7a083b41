-- Call forwarding and do-not-disturb set from the phones, kept per line user (domain, extension) so they
-- survive restarts and a device swap. An empty target means "not forwarded".

CREATE TABLE line_features (
    domain             TEXT NOT NULL,
    extension          TEXT NOT NULL,
    forward_all        TEXT NOT NULL DEFAULT '',
    forward_busy       TEXT NOT NULL DEFAULT '',
    forward_no_answer  TEXT NOT NULL DEFAULT '',
    -- 0 or 1
    dnd                BIGINT NOT NULL DEFAULT 0 CHECK (dnd IN (0, 1)),
    updated_at         BIGINT NOT NULL,
    PRIMARY KEY (domain, extension)
);
