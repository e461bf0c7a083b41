-- A counter bumped by every inventory write (Store::apply, in the same transaction). The running
-- servers poll it every few seconds to tell whether anything changed: before this they counted the
-- users and took their newest updated_at, a scan of the whole table (100,000 rows) per poll.
CREATE TABLE inventory_serial (
    id      BIGINT PRIMARY KEY CHECK (id = 1),
    serial  BIGINT NOT NULL
);

INSERT INTO inventory_serial (id, serial) VALUES (1, 0);
