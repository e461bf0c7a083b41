//! Rendering provisioning files per request, for the TFTP and HTTP servers and `crossbar render`.
//!
//! A [`Renderer`] holds an in-memory [`Catalog`] of the inventory: [`Renderer::fetch`] never queries the
//! database. A background task compares [`Store::inventory_fingerprint`] every
//! [`REFRESH_INTERVAL`] and rebuilds the catalog when it changed; [`Renderer::refresh`] does it at once.
//!
//! File names decide everything (see [`names`]): a name carrying a MAC (`SEP<MAC>.cnf.xml`, `<MAC>.PRV`,
//! `<mac>.cfg`, ...) renders for that device only if it is in the inventory, so files that carry
//! credentials ([`RenderedFile::carries_credentials`]) never reach a MAC the inventory does not have;
//! there is no switch to turn that off. An unknown MAC gives [`Fetched::UnknownDevice`], and the device
//! is recorded as seen ([`Store::record_seen`]) by a background writer, at most once a
//! [`SEEN_THROTTLE`] per MAC, so a boot storm of unknown phones costs a few rows, not thousands of writes
//! per second. Shared files (`XMLDefault.cnf.xml`, `SYSTEM.PRV`, `1140e.cfg`, `000000000000.cfg`,
//! `y000000000066.cfg`, ...) render without a device.

mod catalog;
pub mod names;

pub use catalog::Catalog;
pub use templates::context::Endpoint;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::mac::Mac;
use crate::secret::LineSecret;
use crate::store::{SeenDevice, SeenVia, Store, StoreError};

/// How often the background task looks for inventory changes.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(2);
/// An unknown MAC is recorded at most once in this time.
pub const SEEN_THROTTLE: Duration = Duration::from_secs(60);
/// Sightings waiting to be written; beyond it they are dropped (the MAC will be seen again).
const SEEN_QUEUE: usize = 1024;
/// Throttle entries kept before the table is cleared (bounds memory under a MAC sweep).
const SEEN_TABLE_MAX: usize = 65_536;

/// The addresses phones are told to use: what Crossbar listens on as phones reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddresses {
    /// The SCCP listener (Cisco call manager).
    pub sccp: Endpoint,
    /// The UNIStim listener (Nortel connect server).
    pub unistim: Endpoint,
    /// The SIP registrar and proxy.
    pub sip: Endpoint,
    /// The TFTP server.
    pub tftp: Endpoint,
    /// The HTTP provisioning server.
    pub http: Endpoint,
}

/// A firmware image of a UNIStim model (`[FW]` of its `<type>.cfg`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firmware {
    /// `VERSION`, such as `0625C8A`.
    pub version: String,
    /// `FILENAME`, a file of the TFTP root.
    pub filename: String,
}

/// Site-wide settings the files carry besides the server addresses. The defaults keep every phone's
/// firmware, use UTC and US English, and tag no VLAN.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Settings {
    /// Cisco `dateTemplate`.
    pub date_template: String,
    /// Cisco time zone name.
    pub time_zone: String,
    /// Time zone of the 7940/7960 SIP firmware (`time_zone` of SIPDefault.cnf).
    pub cisco_sip_time_zone: String,
    /// NTP server.
    pub ntp: Option<String>,
    /// Cisco user locale of 79x1 and later.
    pub user_locale: String,
    /// Cisco network locale of 79x1 and later.
    pub network_locale: String,
    /// Cisco user locale of 7940/7960.
    pub legacy_user_locale: String,
    /// Cisco network locale of 7940/7960.
    pub legacy_network_locale: String,
    /// Cisco language code.
    pub lang_code: String,
    /// Firmware loads by model name (Cisco `loadInformation`); a model without one keeps its load.
    pub loads: BTreeMap<String, String>,
    /// 7940/7960 SIP image (`OS79XX.TXT`, `image_version`).
    pub cisco_sip_image: Option<String>,
    /// UNIStim firmware by type name (`1140E`).
    pub unistim_firmware: BTreeMap<String, Firmware>,
    /// A secondary UNIStim server (`s2ip`), if any.
    pub unistim_secondary: Option<Endpoint>,
    /// UNIStim retries per server (`r1`, `r2`).
    pub unistim_retry: u8,
    /// Voice VLAN to tag, if any.
    pub voice_vlan: Option<u16>,
    /// Polycom application image (`APP_FILE_PATH`).
    pub polycom_app_file: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            date_template: "D/M/YA".to_owned(),
            time_zone: "Greenwich Standard Time".to_owned(),
            cisco_sip_time_zone: "GMT".to_owned(),
            ntp: None,
            user_locale: "English_United_States".to_owned(),
            network_locale: "United_States".to_owned(),
            legacy_user_locale: "English_United_States".to_owned(),
            legacy_network_locale: "United_States".to_owned(),
            lang_code: "en_US".to_owned(),
            loads: BTreeMap::new(),
            cisco_sip_image: None,
            unistim_firmware: BTreeMap::new(),
            unistim_secondary: None,
            unistim_retry: 10,
            voice_vlan: None,
            polycom_app_file: "sip.ld".to_owned(),
        }
    }
}

/// What a request gets.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fetched {
    /// The rendered file.
    File(RenderedFile),
    /// The name carries a MAC the inventory does not have (the device was recorded as seen).
    UnknownDevice {
        /// The MAC from the name.
        mac: Mac,
        /// The model it probably is.
        model_guess: Option<&'static str>,
    },
    /// Nothing Crossbar renders has this name.
    NotFound,
}

/// A rendered file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// The bytes to send.
    pub body: Bytes,
    /// The HTTP content type.
    pub content_type: &'static str,
    /// A strong ETag (quoted), the same for the same bytes.
    pub etag: String,
    /// Whether the file carries SIP credentials (it then only ever renders for inventory MACs).
    pub carries_credentials: bool,
    /// The device it is for; `None` for shared files.
    pub mac: Option<Mac>,
}

/// Why rendering failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// The inventory could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A template failed.
    #[error(transparent)]
    Template(#[from] templates::TemplateError),
}

struct Inner {
    store: Store,
    templates: templates::Templates,
    servers: ServerAddresses,
    settings: Settings,
    line_secret: LineSecret,
    catalog: RwLock<Arc<Catalog>>,
    fingerprint: Mutex<i64>,
    seen_tx: mpsc::Sender<SeenDevice>,
    seen_recent: Mutex<HashMap<Mac, Instant>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(tasks) = self.tasks.get_mut() {
            for task in tasks.drain(..) {
                task.abort();
            }
        }
    }
}

/// Renders provisioning files from an in-memory inventory snapshot; cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct Renderer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("servers", &self.inner.servers)
            .finish_non_exhaustive()
    }
}

fn unix_now() -> i64 {
    crate::store::unix_now()
}

impl Renderer {
    /// Loads the inventory and starts the background refresh and seen-device writer (on the current
    /// tokio runtime; they stop when the last clone is dropped). Default [`Settings`].
    ///
    /// # Errors
    /// [`RenderError::Store`] when the inventory cannot be read.
    pub async fn new(
        store: Store,
        templates: templates::Templates,
        servers: ServerAddresses,
    ) -> Result<Self, RenderError> {
        Self::with_settings(store, templates, servers, Settings::default()).await
    }

    /// [`Renderer::new`] with site settings. The store's SIP line secret ([`Store::line_secret`], created
    /// if this store has none yet) is read once here: SIP-firmware devices' files carry the line
    /// passwords derived from it.
    ///
    /// # Errors
    /// [`RenderError::Store`] when the inventory cannot be read.
    pub async fn with_settings(
        store: Store,
        templates: templates::Templates,
        servers: ServerAddresses,
        settings: Settings,
    ) -> Result<Self, RenderError> {
        let fingerprint = store.inventory_fingerprint().await?;
        let inventory = store.load_device_inventory().await?;
        let line_secret = store.line_secret().await?;
        let catalog = Catalog::new(
            &inventory,
            templates.clone(),
            servers.clone(),
            settings.clone(),
        )
        .with_line_secret(&line_secret);
        let (seen_tx, seen_rx) = mpsc::channel(SEEN_QUEUE);
        let inner = Arc::new(Inner {
            store: store.clone(),
            templates,
            servers,
            settings,
            line_secret,
            catalog: RwLock::new(Arc::new(catalog)),
            fingerprint: Mutex::new(fingerprint),
            seen_tx,
            seen_recent: Mutex::new(HashMap::new()),
            tasks: Mutex::new(Vec::new()),
        });
        let refresher = tokio::spawn(refresh_loop(Arc::downgrade(&inner)));
        let writer = tokio::spawn(seen_writer(store, seen_rx));
        if let Ok(mut tasks) = inner.tasks.lock() {
            tasks.push(refresher);
            tasks.push(writer);
        }
        Ok(Self { inner })
    }

    /// The current snapshot.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.inner.catalog.read().map_or_else(
            |poisoned| Arc::clone(&poisoned.into_inner()),
            |c| Arc::clone(&c),
        )
    }

    /// The server addresses phones are told.
    pub fn servers(&self) -> &ServerAddresses {
        &self.inner.servers
    }

    /// Looks a requested file name up (a TFTP file name, or the part of an HTTP path after
    /// `/provision/`) and renders it. How the request came is guessed: with a User-Agent, HTTP.
    ///
    /// # Errors
    /// [`RenderError::Template`] when a template fails (only with operator overrides).
    pub async fn fetch(
        &self,
        name: &str,
        client: Option<IpAddr>,
        user_agent: Option<&str>,
    ) -> Result<Fetched, RenderError> {
        let via = if user_agent.is_some() {
            SeenVia::Http
        } else {
            SeenVia::Tftp
        };
        self.fetch_via(via, name, client, user_agent)
    }

    /// [`Renderer::fetch`] saying which server the request came to, for the seen-device record. It does
    /// not wait on anything: TFTP and HTTP servers may call it from any task.
    ///
    /// # Errors
    /// [`RenderError::Template`] when a template fails (only with operator overrides).
    pub fn fetch_via(
        &self,
        via: SeenVia,
        name: &str,
        client: Option<IpAddr>,
        user_agent: Option<&str>,
    ) -> Result<Fetched, RenderError> {
        let fetched = self.catalog().render(name, user_agent)?;
        if let Fetched::UnknownDevice { mac, model_guess } = &fetched {
            self.saw(SeenDevice {
                mac: *mac,
                model_guess: model_guess.map(str::to_owned),
                protocol: model_guess
                    .and_then(crate::models::Model::find)
                    .map(|m| m.protocol)
                    .or_else(|| names::classify(name).and_then(names::Request::protocol)),
                address: client.map(|ip| ip.to_string()),
                source: via,
                user_agent: user_agent.map(str::to_owned),
            });
        }
        Ok(fetched)
    }

    /// The names of every file the device fetches; `None` for a MAC not in the inventory.
    pub fn device_files(&self, mac: &Mac) -> Option<Vec<String>> {
        self.catalog().device_files(mac)
    }

    /// Reloads the inventory snapshot now.
    ///
    /// # Errors
    /// [`RenderError::Store`] when the inventory cannot be read; the old snapshot stays.
    pub async fn refresh(&self) -> Result<(), RenderError> {
        refresh_inner(&self.inner).await
    }

    /// Queues a sighting unless the MAC was recorded within [`SEEN_THROTTLE`].
    fn saw(&self, seen: SeenDevice) {
        let now = Instant::now();
        if let Ok(mut recent) = self.inner.seen_recent.lock() {
            if recent
                .get(&seen.mac)
                .is_some_and(|at| now.duration_since(*at) < SEEN_THROTTLE)
            {
                return;
            }
            if recent.len() >= SEEN_TABLE_MAX {
                recent.retain(|_, at| now.duration_since(*at) < SEEN_THROTTLE);
                if recent.len() >= SEEN_TABLE_MAX {
                    recent.clear();
                }
            }
            recent.insert(seen.mac, now);
        }
        if self.inner.seen_tx.try_send(seen).is_err() {
            tracing::debug!("seen-device queue full; sighting dropped");
        }
    }
}

async fn refresh_inner(inner: &Inner) -> Result<(), RenderError> {
    let fingerprint = inner.store.inventory_fingerprint().await?;
    let inventory = inner.store.load_device_inventory().await?;
    let catalog = Catalog::new(
        &inventory,
        inner.templates.clone(),
        inner.servers.clone(),
        inner.settings.clone(),
    )
    .with_line_secret(&inner.line_secret);
    let devices = catalog.device_count();
    if let Ok(mut slot) = inner.catalog.write() {
        *slot = Arc::new(catalog);
    }
    if let Ok(mut slot) = inner.fingerprint.lock() {
        *slot = fingerprint;
    }
    tracing::debug!(devices, "provisioning snapshot reloaded");
    Ok(())
}

async fn refresh_loop(inner: Weak<Inner>) {
    let mut tick = tokio::time::interval(REFRESH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let current = match inner.store.inventory_fingerprint().await {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(error = %e, "cannot check the inventory for changes");
                continue;
            }
        };
        let known = inner.fingerprint.lock().map(|f| *f).unwrap_or_default();
        if current != known
            && let Err(e) = refresh_inner(&inner).await
        {
            tracing::warn!(error = %e, "cannot reload the provisioning snapshot");
        }
    }
}

async fn seen_writer(store: Store, mut rx: mpsc::Receiver<SeenDevice>) {
    while let Some(seen) = rx.recv().await {
        if let Err(e) = store.record_seen(&seen, unix_now()).await {
            tracing::warn!(mac = %seen.mac, error = %e, "cannot record a seen device");
        } else {
            tracing::info!(
                mac = %seen.mac,
                via = %seen.source,
                client.addr = seen.address.as_deref().unwrap_or("-"),
                model = seen.model_guess.as_deref().unwrap_or("-"),
                "unknown device asked for its configuration"
            );
        }
    }
}

/// Every file of a device rendered, in boot order ([`Catalog::device_files`]); `None` for a MAC not in
/// the catalog.
///
/// # Errors
/// [`RenderError::Template`] when a template fails.
pub fn device_bundle(
    catalog: &Catalog,
    mac: &Mac,
) -> Result<Option<Vec<(String, RenderedFile)>>, RenderError> {
    let Some(names) = catalog.device_files(mac) else {
        return Ok(None);
    };
    let mut files = Vec::with_capacity(names.len());
    for name in names {
        if let Fetched::File(file) = catalog.render(&name, None)? {
            files.push((name, file));
        }
    }
    Ok(Some(files))
}

/// A device's files as `crossbar render MAC` prints them: each preceded by a `==> NAME <==` line, and
/// ended by a newline if it does not end with one.
pub fn listing(files: &[(String, RenderedFile)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (name, file)) in files.iter().enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        out.extend_from_slice(format!("==> {name} <==\n").as_bytes());
        out.extend_from_slice(&file.body);
        if !file.body.ends_with(b"\n") {
            out.push(b'\n');
        }
    }
    out
}

/// Every shared file ([`Catalog::shared_files`]) rendered.
///
/// # Errors
/// [`RenderError::Template`] when a template fails.
pub fn shared_bundle(catalog: &Catalog) -> Result<Vec<(String, RenderedFile)>, RenderError> {
    let mut files = Vec::new();
    for name in catalog.shared_files() {
        if let Fetched::File(file) = catalog.render(&name, None)? {
            files.push((name, file));
        }
    }
    Ok(files)
}

/// The devices of `after` whose rendered files differ from those in `before` (devices new in `after`
/// are not included: they have never been provisioned, so there is nothing to reset).
///
/// # Errors
/// [`RenderError::Template`] when a template fails.
pub fn changed_devices(before: &Catalog, after: &Catalog) -> Result<Vec<Mac>, RenderError> {
    let mut changed = Vec::new();
    let mut macs: Vec<Mac> = after.macs().collect();
    macs.sort_unstable();
    for mac in macs {
        let (Some(old_files), Some(new_files)) =
            (before.device_files(&mac), after.device_files(&mac))
        else {
            continue;
        };
        let differs = old_files != new_files
            || new_files.iter().try_fold(false, |acc, name| {
                Ok::<_, RenderError>(acc || before.render(name, None)? != after.render(name, None)?)
            })?;
        if differs {
            changed.push(mac);
        }
    }
    Ok(changed)
}
