//! The inventory as CSV, in the import format: importing an export changes nothing.
//!
//! One row per user, sorted by domain and then extension (digit runs by value). Every column is written,
//! in [`crate::import::COLUMNS`] order. A user on a device line carries that device's `mac`, `model`,
//! `line` and the busy-lamp keys belonging to that line; the password column carries the stored digest
//! hashes as `ha1:<md5>:<sha256>` (never a clear password, which the store does not keep).

use std::io::Write;

use crate::import::COLUMNS;
use crate::inventory::{Device, Inventory, KeyKind, natural_cmp};

/// Writes `inventory` as CSV to `out`.
///
/// # Errors
/// Whatever writing to `out` fails with.
pub fn export(inventory: &Inventory, out: impl Write) -> csv::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(COLUMNS)?;
    let mut users: Vec<_> = inventory.users.values().collect();
    users.sort_by(|a, b| {
        a.id.domain
            .cmp(&b.id.domain)
            .then_with(|| natural_cmp(&a.id.extension, &b.id.extension))
    });
    // Where each user appears: (domain, extension) -> (device, line).
    let mut placement = std::collections::HashMap::new();
    for device in inventory.devices.values() {
        for key in device.lines() {
            placement.insert(
                (device.domain.as_str(), key.target.as_str()),
                (device, key.line),
            );
        }
    }
    for user in users {
        let (mac, model, line, blf) =
            match placement.get(&(user.id.domain.as_str(), user.id.extension.as_str())) {
                Some(&(device, line)) => (
                    device.mac.to_string(),
                    device.model.name.to_owned(),
                    line.to_string(),
                    blf_of(device, line),
                ),
                None => Default::default(),
            };
        let password = user
            .ha1
            .as_ref()
            .map(|h| h.export_form())
            .unwrap_or_default();
        writer.write_record([
            user.id.domain.as_str(),
            &user.id.extension,
            &user.first_name,
            &user.last_name,
            &user.display_name,
            &password,
            &user.email,
            &user.department,
            &user.voicemail,
            &mac,
            &model,
            &line,
            &blf,
        ])?;
    }
    writer.flush()?;
    Ok(())
}

fn blf_of(device: &Device, line: u16) -> String {
    device
        .keys
        .iter()
        .filter(|k| k.kind == KeyKind::Blf && k.line == line)
        .map(|k| k.target.as_str())
        .collect::<Vec<_>>()
        .join(";")
}
