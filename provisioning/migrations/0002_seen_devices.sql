-- Phones seen on the network: every request of an unknown MAC's device file (TFTP, HTTP) and every SCCP or
-- UNIStim registration attempt records the device here, so `crossbar devices --unknown` can list phones
-- waiting to be adopted. One row per MAC: first_seen is kept, the rest is the latest sighting.

CREATE TABLE seen_devices (
    -- 12 lower-case hex digits
    mac          TEXT PRIMARY KEY,
    -- a model name of the model table, guessed from the file name, User-Agent or SCCP device type
    model_guess  TEXT,
    protocol     TEXT CHECK (protocol IS NULL OR protocol IN ('sccp', 'unistim', 'sip')),
    -- source address (IP or IP:port) of the last sighting
    address      TEXT,
    -- how it was seen: tftp, http, sccp, unistim
    via          TEXT NOT NULL CHECK (via IN ('tftp', 'http', 'sccp', 'unistim')),
    user_agent   TEXT,
    first_seen   BIGINT NOT NULL,
    last_seen    BIGINT NOT NULL,
    -- how many times it was recorded (throttled: at most once a minute per MAC by the provisioning servers)
    sightings    BIGINT NOT NULL DEFAULT 1
);

CREATE INDEX seen_devices_by_last_seen ON seen_devices (last_seen);
