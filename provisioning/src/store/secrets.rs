//! Server secrets shared by the nodes of one store (migration `0005_secrets.sql`).

use sqlx::Row as _;

use super::{Store, StoreError, unix_now};
use crate::secret::{LINE_SECRET_NAME, LineSecret};

impl Store {
    /// The SIP line secret ([`crate::secret`]), created at random by the first caller on this store; every
    /// node sharing the store reads the same one (an insert that loses a race keeps the winner's).
    ///
    /// # Errors
    /// A failed query, or [`StoreError::Corrupt`] when the stored value is not 64 hex digits.
    pub async fn line_secret(&self) -> Result<LineSecret, StoreError> {
        if let Some(secret) = self.stored_line_secret().await? {
            return Ok(secret);
        }
        sqlx::query(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(LINE_SECRET_NAME)
        .bind(LineSecret::random().to_hex())
        .bind(unix_now())
        .execute(self.pool())
        .await?;
        match self.stored_line_secret().await? {
            Some(secret) => {
                tracing::info!("SIP line secret created");
                Ok(secret)
            }
            None => Err(StoreError::Corrupt {
                what: "server_secrets row",
                value: LINE_SECRET_NAME.to_owned(),
            }),
        }
    }

    /// The stored SIP line secret, if one was created.
    ///
    /// # Errors
    /// A failed query, or [`StoreError::Corrupt`] when the stored value is not 64 hex digits.
    pub async fn stored_line_secret(&self) -> Result<Option<LineSecret>, StoreError> {
        let row = sqlx::query("SELECT value FROM server_secrets WHERE name = $1")
            .bind(LINE_SECRET_NAME)
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let value: String = row.try_get("value")?;
        LineSecret::from_hex(&value)
            .map(Some)
            .ok_or(StoreError::Corrupt {
                what: "server secret",
                value: "(not 64 hex digits)".to_owned(),
            })
    }

    /// Removes the SIP line secret, so that the next [`Store::line_secret`] creates a new one: every
    /// SIP-firmware phone's line password changes (they need their files again to register).
    ///
    /// # Errors
    /// A failed query.
    pub async fn forget_line_secret(&self) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM server_secrets WHERE name = $1")
            .bind(LINE_SECRET_NAME)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
