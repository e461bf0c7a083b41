//! Per-line features set from the phones: call forward all / busy / no answer and do-not-disturb, keyed
//! by the line's user so they follow the user, not the device.

use sqlx::Row as _;

use super::{Store, StoreError};
use crate::inventory::UserId;

/// A line's forwarding and do-not-disturb settings as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineFeatures {
    /// Forward every call here.
    pub forward_all: Option<String>,
    /// Forward here when the line is busy.
    pub forward_busy: Option<String>,
    /// Forward here when nobody answers.
    pub forward_no_answer: Option<String>,
    /// Refuse calls.
    pub dnd: bool,
}

fn target(row: &sqlx::any::AnyRow, column: &str) -> Result<Option<String>, StoreError> {
    let text: String = row.try_get(column)?;
    Ok((!text.is_empty()).then_some(text))
}

impl Store {
    /// The features of `user`'s line; all off when none were ever set.
    ///
    /// # Errors
    /// [`StoreError`] on a failed query.
    pub async fn line_features(&self, user: &UserId) -> Result<LineFeatures, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT forward_all, forward_busy, forward_no_answer, dnd FROM line_features \
             WHERE domain = $1 AND extension = $2",
        )
        .bind(&user.domain)
        .bind(&user.extension)
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok(LineFeatures::default());
        };
        let dnd: i64 = row.try_get("dnd")?;
        Ok(LineFeatures {
            forward_all: target(&row, "forward_all")?,
            forward_busy: target(&row, "forward_busy")?,
            forward_no_answer: target(&row, "forward_no_answer")?,
            dnd: dnd != 0,
        })
    }

    /// The features of every line that has any stored, by user (for an in-memory snapshot).
    ///
    /// # Errors
    /// [`StoreError`] on a failed query.
    pub async fn all_line_features(
        &self,
    ) -> Result<std::collections::HashMap<UserId, LineFeatures>, StoreError> {
        let mut all = std::collections::HashMap::new();
        for row in sqlx::query(
            "SELECT domain, extension, forward_all, forward_busy, forward_no_answer, dnd              FROM line_features",
        )
        .fetch_all(self.pool())
        .await?
        {
            let dnd: i64 = row.try_get("dnd")?;
            let user = UserId::new(
                row.try_get::<String, _>("domain")?,
                row.try_get::<String, _>("extension")?,
            );
            all.insert(
                user,
                LineFeatures {
                    forward_all: target(&row, "forward_all")?,
                    forward_busy: target(&row, "forward_busy")?,
                    forward_no_answer: target(&row, "forward_no_answer")?,
                    dnd: dnd != 0,
                },
            );
        }
        Ok(all)
    }

    /// Stores the features of `user`'s line at `now` (Unix seconds), replacing what was there.
    ///
    /// # Errors
    /// [`StoreError`] on a failed statement.
    pub async fn set_line_features(
        &self,
        user: &UserId,
        features: &LineFeatures,
        now: i64,
    ) -> Result<(), StoreError> {
        let text = |o: &Option<String>| o.clone().unwrap_or_default();
        sqlx::query(
            "INSERT INTO line_features \
             (domain, extension, forward_all, forward_busy, forward_no_answer, dnd, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (domain, extension) DO UPDATE SET forward_all = excluded.forward_all, \
             forward_busy = excluded.forward_busy, forward_no_answer = excluded.forward_no_answer, \
             dnd = excluded.dnd, updated_at = excluded.updated_at",
        )
        .bind(&user.domain)
        .bind(&user.extension)
        .bind(text(&features.forward_all))
        .bind(text(&features.forward_busy))
        .bind(text(&features.forward_no_answer))
        .bind(i64::from(features.dnd))
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
