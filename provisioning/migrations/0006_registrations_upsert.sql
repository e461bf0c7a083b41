-- The location writer upserts each binding and then deletes, per AOR it wrote, the rows that this write
-- did not touch: a refresh rewrites one row in place instead of deleting and re-inserting it.
-- `write_stamp` tells the rows of one write from older ones: a value unique to each write transaction
-- (0 for rows written before this migration).
ALTER TABLE registrations ADD COLUMN write_stamp BIGINT NOT NULL DEFAULT 0;

-- Nothing on the hot path reads by expiry (the startup load scans the whole table), and keeping this
-- index up to date was a third of the B-tree work of every refresh.
DROP INDEX registrations_by_expiry;
