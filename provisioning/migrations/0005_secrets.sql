-- Server secrets shared by every node of one store. `sip-line` derives the SIP password each SIP-firmware
-- phone's line gets in its provisioning file (provisioning::secret); it is created, 32 random bytes in hex,
-- by the first node that starts on this store. Deleting the row re-keys every phone: the next node to look
-- creates a new one, every node picks it up within seconds, and each phone registers again once it has
-- fetched its files anew (a reboot, or `crossbar import --reset-changed` for the phones that support it).

CREATE TABLE server_secrets (
    name        TEXT PRIMARY KEY,
    -- 64 lower-case hex digits
    value       TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
