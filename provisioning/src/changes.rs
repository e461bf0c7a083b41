//! The difference between two inventories: what an import would write, and what it tells the operator.

use std::fmt;

use crate::inventory::{Device, Inventory, KeyKind, User};

/// What turning one inventory into another writes. Import never deletes users or domains; a device is
/// removed only when it is left without lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSet {
    /// Domains that do not exist yet.
    pub domains_added: Vec<String>,
    /// New users.
    pub users_added: Vec<User>,
    /// Users whose fields change: (before, after).
    pub users_updated: Vec<(User, User)>,
    /// New devices, with their keys.
    pub devices_added: Vec<Device>,
    /// Devices whose model, domain or keys change: (before, after).
    pub devices_updated: Vec<(Device, Device)>,
    /// Devices left without any line.
    pub devices_removed: Vec<Device>,
}

impl ChangeSet {
    /// What must be written to turn `before` into `after`.
    pub fn between(before: &Inventory, after: &Inventory) -> Self {
        let mut changes = Self {
            domains_added: after.domains.difference(&before.domains).cloned().collect(),
            ..Self::default()
        };
        for (id, user) in &after.users {
            match before.users.get(id) {
                None => changes.users_added.push(user.clone()),
                Some(old) if old != user => changes.users_updated.push((old.clone(), user.clone())),
                Some(_) => {}
            }
        }
        for (mac, device) in &after.devices {
            match before.devices.get(mac) {
                None => changes.devices_added.push(device.clone()),
                Some(old) if old != device => {
                    changes.devices_updated.push((old.clone(), device.clone()));
                }
                Some(_) => {}
            }
        }
        changes.devices_removed = before
            .devices
            .iter()
            .filter(|(mac, _)| !after.devices.contains_key(mac))
            .map(|(_, device)| device.clone())
            .collect();
        changes
    }

    /// Whether nothing would be written.
    pub fn is_empty(&self) -> bool {
        self.domains_added.is_empty()
            && self.users_added.is_empty()
            && self.users_updated.is_empty()
            && self.devices_added.is_empty()
            && self.devices_updated.is_empty()
            && self.devices_removed.is_empty()
    }

    /// One line of counts, such as `domains: 3 added; users: 50 added, 0 updated; ...`.
    pub fn summary(&self) -> String {
        format!(
            "domains: {} added; users: {} added, {} updated; devices: {} added, {} updated, {} removed",
            self.domains_added.len(),
            self.users_added.len(),
            self.users_updated.len(),
            self.devices_added.len(),
            self.devices_updated.len(),
            self.devices_removed.len(),
        )
    }
}

/// The names of the user fields that differ.
pub fn changed_user_fields(before: &User, after: &User) -> Vec<&'static str> {
    let mut fields = Vec::new();
    let pairs: [(&'static str, &str, &str); 6] = [
        ("first_name", &before.first_name, &after.first_name),
        ("last_name", &before.last_name, &after.last_name),
        ("display_name", &before.display_name, &after.display_name),
        ("email", &before.email, &after.email),
        ("department", &before.department, &after.department),
        ("voicemail", &before.voicemail, &after.voicemail),
    ];
    for (name, old, new) in pairs {
        if old != new {
            fields.push(name);
        }
    }
    if before.ha1 != after.ha1 {
        fields.push("password");
    }
    fields
}

fn describe_keys(device: &Device) -> String {
    let lines: Vec<String> = device
        .lines()
        .map(|k| format!("{}={}", k.line, k.target))
        .collect();
    let blf: Vec<&str> = device
        .keys
        .iter()
        .filter(|k| k.kind == KeyKind::Blf)
        .map(|k| k.target.as_str())
        .collect();
    let mut text = format!("lines {}", lines.join(", "));
    if !blf.is_empty() {
        text.push_str(&format!("; blf {}", blf.join(", ")));
    }
    text
}

impl fmt::Display for ChangeSet {
    /// One line per change, as `crossbar import` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for domain in &self.domains_added {
            writeln!(f, "+ domain {domain}")?;
        }
        for user in &self.users_added {
            writeln!(f, "+ user {} ({})", user.id, user.shown_name())?;
        }
        for (before, after) in &self.users_updated {
            let fields = changed_user_fields(before, after);
            writeln!(f, "~ user {}: {}", after.id, fields.join(", "))?;
        }
        for device in &self.devices_added {
            writeln!(
                f,
                "+ device {} {} in {}: {}",
                device.mac,
                device.model.name,
                device.domain,
                describe_keys(device)
            )?;
        }
        for (before, after) in &self.devices_updated {
            let mut what = Vec::new();
            if before.model.name != after.model.name {
                what.push(format!(
                    "model {} -> {}",
                    before.model.name, after.model.name
                ));
            }
            if before.domain != after.domain {
                what.push(format!("domain {} -> {}", before.domain, after.domain));
            }
            if before.keys != after.keys {
                what.push(format!(
                    "{} -> {}",
                    describe_keys(before),
                    describe_keys(after)
                ));
            }
            writeln!(f, "~ device {}: {}", after.mac, what.join("; "))?;
        }
        for device in &self.devices_removed {
            writeln!(
                f,
                "- device {} {}: no lines left",
                device.mac, device.model.name
            )?;
        }
        Ok(())
    }
}
