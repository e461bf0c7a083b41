//! `crossbar render`, `crossbar devices` and the `--reset-changed` part of `crossbar import`.

use std::collections::BTreeMap;
use std::io::Write as _;

use anyhow::Context as _;
use provisioning::render::{Catalog, Fetched, changed_devices as changed, device_bundle, listing};
use provisioning::{Inventory, Mac};

use crate::cli::{CliError, DevicesArgs, RenderArgs, open_store};
use crate::config::Config;
use crate::provision::{Bound, server_addresses};

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SSZ` (UTC), by the civil-from-days algorithm.
fn utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

pub(crate) fn write_out(
    f: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<(), CliError> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match f(&mut out).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(anyhow::Error::from(e)
            .context("writing to standard output")
            .into()),
    }
}

/// `crossbar render MAC [FILENAME]`.
pub(crate) async fn render(args: &RenderArgs) -> Result<(), CliError> {
    let (mac, _) = Mac::parse(&args.mac)
        .map_err(|e| CliError::Usage(format!("{:?} is not a MAC address: {e}", args.mac)))?;
    let config = Config::load(args.config.config.as_deref())?;
    let store = open_store(&config).await?;
    let renderer =
        crate::provision::renderer(&config, store.clone(), &Bound::configured(&config)).await?;
    store.close().await;
    let catalog = renderer.catalog();
    let Some(names) = catalog.device_files(&mac) else {
        return Err(CliError::Rejected(format!(
            "device {mac} is not in the inventory (`crossbar devices --unknown` lists phones seen but not \
             imported; `crossbar import` adds them)"
        )));
    };
    let render_error = |e| CliError::Runtime(anyhow::Error::new(e).context("rendering"));
    match &args.file {
        None => {
            let files = device_bundle(&catalog, &mac)
                .map_err(render_error)?
                .unwrap_or_default();
            let text = listing(&files);
            write_out(|out| out.write_all(&text))
        }
        Some(file) => {
            let wanted = file.strip_prefix('/').unwrap_or(file);
            let known = |list: &[String]| list.iter().any(|n| n.eq_ignore_ascii_case(wanted));
            if !known(&names) && !known(&catalog.shared_files()) {
                return Err(CliError::Usage(format!(
                    "device {mac} fetches no file {file:?}; its files: {} (and the shared files \
                     such as XMLDefault.cnf.xml)",
                    names.join(", ")
                )));
            }
            match catalog.render(wanted, None).map_err(render_error)? {
                Fetched::File(rendered) => write_out(|out| out.write_all(&rendered.body)),
                _ => Err(CliError::Usage(format!(
                    "{file:?} renders to nothing for device {mac} (an OS79XX.TXT needs a SIP image)"
                ))),
            }
        }
    }
}

/// The devices of `after` whose rendered files differ from `before`'s, as the configured gateway would
/// render them.
pub(crate) fn changed_devices(
    config: &Config,
    before: &Inventory,
    after: &Inventory,
) -> Result<Vec<Mac>, CliError> {
    let templates = crate::provision::templates(config)?;
    let servers = server_addresses(config, &Bound::configured(config));
    let settings = config.provisioning.site.clone();
    let old = Catalog::new(before, templates.clone(), servers.clone(), settings.clone());
    let new = Catalog::new(after, templates, servers, settings);
    changed(&old, &new).map_err(|e| {
        CliError::Runtime(anyhow::Error::new(e).context("rendering the changed devices"))
    })
}

/// `crossbar devices [--unknown [--csv]]`.
pub(crate) async fn devices(args: &DevicesArgs) -> Result<(), CliError> {
    let config = Config::load(args.config.config.as_deref())?;
    let store = open_store(&config).await?;
    if args.unknown {
        let rows = store
            .seen_devices(true)
            .await
            .context("reading the seen devices")?;
        store.close().await;
        return write_out(|out| {
            if args.csv {
                // The import format: fill in extension (and names), then `crossbar import` adopts them.
                writeln!(out, "extension,first_name,last_name,mac,model")?;
                for r in &rows {
                    writeln!(
                        out,
                        ",,,{},{}",
                        r.seen.mac,
                        r.seen.model_guess.as_deref().unwrap_or_default()
                    )?;
                }
                return Ok(());
            }
            writeln!(
                out,
                "{:<12}  {:<14}  {:<21}  {:<20}  {:<20}  via",
                "mac", "model guess", "address", "first seen", "last seen"
            )?;
            for r in &rows {
                writeln!(
                    out,
                    "{:<12}  {:<14}  {:<21}  {:<20}  {:<20}  {}",
                    r.seen.mac,
                    r.seen.model_guess.as_deref().unwrap_or("-"),
                    r.seen.address.as_deref().unwrap_or("-"),
                    utc(r.first_seen),
                    utc(r.last_seen),
                    r.seen.source
                )?;
            }
            Ok(())
        });
    }
    let inventory = store
        .load_inventory()
        .await
        .context("reading the inventory")?;
    let bindings = store
        .load_registrations(unix_now())
        .await
        .context("reading the registrations")?;
    store.close().await;
    let mut by_aor: BTreeMap<(&str, &str), Vec<&provisioning::store::RegistrationRow>> =
        BTreeMap::new();
    for row in &bindings {
        by_aor
            .entry((row.domain.as_str(), row.extension.as_str()))
            .or_default()
            .push(row);
    }
    write_out(|out| {
        writeln!(
            out,
            "{:<12}  {:<14}  {:<8}  {:<24}  {:<14}  contact",
            "mac", "model", "protocol", "domain", "registered"
        )?;
        for device in inventory.devices.values() {
            let lines: Vec<_> = device.lines().collect();
            let registered: Vec<_> = lines
                .iter()
                .filter_map(|k| by_aor.get(&(device.domain.as_str(), k.target.as_str())))
                .collect();
            let contact = registered
                .first()
                .and_then(|rows| rows.first())
                .map_or_else(
                    || "-".to_owned(),
                    |r| {
                        if r.owner.is_empty() {
                            r.contact.to_string()
                        } else {
                            format!("{} (via {})", r.contact, r.owner)
                        }
                    },
                );
            let state = format!("{}/{} lines", registered.len(), lines.len());
            writeln!(
                out,
                "{:<12}  {:<14}  {:<8}  {:<24}  {:<14}  {contact}",
                device.mac,
                device.model.name,
                device.model.protocol.as_str(),
                device.domain,
                state
            )?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn times_are_printed_in_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00Z");
        assert_eq!(utc(1_796_083_199), "2026-11-30 23:59:59Z");
    }
}
