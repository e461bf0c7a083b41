//! Checks across rows and against the inventory, and the inventory the file leads to.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::inventory::{Device, Inventory, Key, KeyKind, User, UserId};
use crate::mac::Mac;
use crate::models::Model;

use super::rows::{Password, Placement, Row, UserField};
use super::{Problem, RowNote};

pub(super) struct Built {
    pub(super) after: Inventory,
    pub(super) problems: Vec<RowNote<Problem>>,
}

/// A device as the file describes it.
struct DeviceRows<'a> {
    first_line: u64,
    domain: &'a str,
    model: &'static Model,
    /// (row, line number once assigned)
    members: Vec<(&'a Row, Option<u16>)>,
}

/// Lays out a device's keys: each line at its own number, then the busy-lamp keys in the order of the
/// line they belong to and of their listing.
pub(crate) fn layout(lines: &[(u16, String)], blf: &[(u16, String)]) -> Vec<Key> {
    let mut keys: Vec<Key> = lines
        .iter()
        .map(|(line, target)| Key {
            position: *line,
            kind: KeyKind::Line,
            line: *line,
            target: target.clone(),
            label: String::new(),
        })
        .collect();
    keys.sort_by_key(|k| k.position);
    let mut next = keys.last().map_or(1, |k| k.position.saturating_add(1));
    let mut blf: Vec<&(u16, String)> = blf.iter().collect();
    blf.sort_by_key(|(line, _)| *line); // stable: keeps listing order within a line
    for (line, target) in blf {
        keys.push(Key {
            position: next,
            kind: KeyKind::Blf,
            line: *line,
            target: target.clone(),
            label: String::new(),
        });
        next = next.saturating_add(1);
    }
    keys
}

pub(super) fn build(current: &Inventory, rows: &[Row], has_mac_column: bool) -> Built {
    let mut problems = Vec::new();
    let mut problem = |line, what| problems.push(RowNote { line, what });

    // One row per user.
    let mut first_row: HashMap<&UserId, u64> = HashMap::new();
    let mut unique: Vec<&Row> = Vec::new();
    for row in rows {
        match first_row.get(&row.user) {
            Some(&first_line) => problem(
                row.line,
                Problem::DuplicateUser {
                    user: row.user.to_string(),
                    first_line,
                },
            ),
            None => {
                first_row.insert(&row.user, row.line);
                unique.push(row);
            }
        }
    }

    // Group rows by device; check they agree; assign lines.
    let mut devices: BTreeMap<Mac, DeviceRows<'_>> = BTreeMap::new();
    for row in &unique {
        let Placement::On {
            mac, model, line, ..
        } = &row.placement
        else {
            continue;
        };
        let group = devices.entry(*mac).or_insert_with(|| DeviceRows {
            first_line: row.line,
            domain: &row.user.domain,
            model,
            members: Vec::new(),
        });
        if group.domain != row.user.domain {
            problem(
                row.line,
                Problem::DeviceMismatch {
                    mac: mac.to_string(),
                    field: "domain",
                    this: row.user.domain.clone(),
                    first: group.domain.to_owned(),
                    first_line: group.first_line,
                },
            );
            continue;
        }
        if group.model.name != model.name {
            problem(
                row.line,
                Problem::DeviceMismatch {
                    mac: mac.to_string(),
                    field: "model",
                    this: model.name.to_owned(),
                    first: group.model.name.to_owned(),
                    first_line: group.first_line,
                },
            );
            continue;
        }
        group.members.push((row, *line));
    }
    for (mac, group) in &mut devices {
        let mut taken: BTreeMap<u16, u64> = BTreeMap::new();
        for (row, line) in &group.members {
            if let Some(line) = line {
                if let Some(&first_line) = taken.get(line) {
                    problem(
                        row.line,
                        Problem::LineClash {
                            line: *line,
                            mac: mac.to_string(),
                            first_line,
                        },
                    );
                } else {
                    taken.insert(*line, row.line);
                }
            }
        }
        let mut free = (1u16..).filter(|n| !taken.contains_key(n));
        for (_, line) in &mut group.members {
            if line.is_none() {
                *line = free.next();
            }
        }
        let max = group.model.max_keys();
        let highest = group
            .members
            .iter()
            .filter_map(|(_, l)| *l)
            .max()
            .unwrap_or(0);
        let blf_count: usize = group
            .members
            .iter()
            .map(|(row, _)| match &row.placement {
                Placement::On { blf, .. } => blf.len(),
                _ => 0,
            })
            .sum();
        let needed = usize::from(highest) + blf_count;
        if needed > usize::from(max) {
            let last = group
                .members
                .last()
                .map_or(group.first_line, |(r, _)| r.line);
            problem(
                last,
                Problem::TooManyKeys {
                    mac: mac.to_string(),
                    model: group.model.name,
                    max,
                    needed,
                },
            );
        }
    }

    // The inventory after the import.
    let mut after = current.clone();
    for row in &unique {
        after.domains.insert(row.user.domain.clone());
        let user = after
            .users
            .entry(row.user.clone())
            .or_insert_with(|| User::new(row.user.clone()));
        for (field, value) in &row.fields {
            let slot = match field {
                UserField::FirstName => &mut user.first_name,
                UserField::LastName => &mut user.last_name,
                UserField::DisplayName => &mut user.display_name,
                UserField::Email => &mut user.email,
                UserField::Department => &mut user.department,
                UserField::Voicemail => &mut user.voicemail,
            };
            slot.clone_from(value);
        }
        if let Password::Set(ha1) = &row.password {
            user.ha1 = Some(ha1.clone());
        }
    }

    if has_mac_column {
        // Users the file places (on a device or nowhere) leave the devices the file does not describe.
        let placed: BTreeSet<&UserId> = unique
            .iter()
            .filter(|r| r.placement != Placement::Untouched)
            .map(|r| &r.user)
            .collect();
        let mut emptied = Vec::new();
        for (mac, device) in &mut after.devices {
            if devices.contains_key(mac) {
                continue;
            }
            let leaving: Vec<u16> = device
                .lines()
                .filter(|k| placed.contains(&UserId::new(device.domain.clone(), k.target.clone())))
                .map(|k| k.line)
                .collect();
            if leaving.is_empty() {
                continue;
            }
            let lines: Vec<(u16, String)> = device
                .lines()
                .filter(|k| !leaving.contains(&k.line))
                .map(|k| (k.line, k.target.clone()))
                .collect();
            let blf: Vec<(u16, String)> = device
                .keys
                .iter()
                .filter(|k| k.kind == KeyKind::Blf && !leaving.contains(&k.line))
                .map(|k| (k.line, k.target.clone()))
                .collect();
            device.keys = layout(&lines, &blf);
            if lines.is_empty() {
                emptied.push(*mac);
            }
        }
        for mac in emptied {
            after.devices.remove(&mac);
        }
        for (mac, group) in &devices {
            let mut lines = Vec::new();
            let mut blf = Vec::new();
            for (row, line) in &group.members {
                let Some(line) = *line else { continue };
                lines.push((line, row.user.extension.clone()));
                if let Placement::On { blf: targets, .. } = &row.placement {
                    for target in targets {
                        if !after
                            .users
                            .contains_key(&UserId::new(group.domain, target.as_str()))
                        {
                            problem(
                                row.line,
                                Problem::UnknownBlfTarget {
                                    target: target.clone(),
                                    domain: group.domain.to_owned(),
                                },
                            );
                        }
                        blf.push((line, target.clone()));
                    }
                }
            }
            after.devices.insert(
                *mac,
                Device {
                    mac: *mac,
                    model: group.model,
                    domain: group.domain.to_owned(),
                    keys: layout(&lines, &blf),
                },
            );
        }
    }
    Built { after, problems }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blf_keys_follow_the_highest_line() {
        let keys = layout(
            &[(3, "1003".into()), (1, "1001".into())],
            &[(3, "2001".into()), (1, "2002".into()), (1, "2003".into())],
        );
        let shown: Vec<(u16, KeyKind, u16, &str)> = keys
            .iter()
            .map(|k| (k.position, k.kind, k.line, k.target.as_str()))
            .collect();
        assert_eq!(
            shown,
            [
                (1, KeyKind::Line, 1, "1001"),
                (3, KeyKind::Line, 3, "1003"),
                (4, KeyKind::Blf, 1, "2002"),
                (5, KeyKind::Blf, 1, "2003"),
                (6, KeyKind::Blf, 3, "2001"),
            ]
        );
    }
}
