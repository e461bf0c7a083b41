//! The tokio drivers of the pure session machines.

pub mod sccp;
pub mod unistim;

use provisioning::{Store, UserId};

use crate::call::phone::LineFeatures;
use crate::call::{CallRef, UaCommand, UaEvent};
use sccp::{DeviceHandle, LineAgents, MediaLegs, MediaPort};

/// Seconds since the Unix epoch (0 before it).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Media for a new call of `device`, the same for every phone protocol. When no media can be had, the
/// call's SIP side is hung up and the event the session must see (`Failed`, 503) is returned instead.
pub(crate) fn allocate_media(
    media: &dyn MediaPort,
    agents: &dyn LineAgents,
    device: &DeviceHandle,
    call: CallRef,
) -> Result<MediaLegs, UaEvent> {
    media.allocate(device, call).map_err(|e| {
        tracing::warn!(%call, error = %e, "no media for the call");
        agents.command(device.name(), UaCommand::Hangup { call });
        UaEvent::Failed {
            call,
            code: 503,
            reason: "No media".to_owned(),
        }
    })
}

/// Keeps a line's forward and DND settings (set from the phone) in the store; returns what was stored.
pub(crate) async fn store_line_features(
    store: &Store,
    user: &UserId,
    features: &LineFeatures,
) -> provisioning::store::LineFeatures {
    let stored = provisioning::store::LineFeatures {
        forward_all: features.forward_all.clone(),
        forward_busy: features.forward_busy.clone(),
        forward_no_answer: features.forward_no_answer.clone(),
        dnd: features.dnd,
    };
    let now = i64::try_from(unix_now()).unwrap_or(i64::MAX);
    if let Err(e) = store.set_line_features(user, &stored, now).await {
        tracing::warn!(line = %user, error = %e, "line features not stored");
    }
    stored
}
