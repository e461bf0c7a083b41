//! SDP (RFC 4566) for the line user agents: parsing and building one audio stream, and the offer/answer
//! rules of RFC 3264 mapped onto [`MediaOffer`] and [`MediaDescription`].
//!
//! Pure: no sockets, no clocks. What is understood:
//! * `c=` at session or media level (media level wins), IPv4 and IPv6;
//! * static payload types (0, 8, 9, 18) with or without `a=rtpmap`, and dynamic ones by encoding name;
//! * `telephone-event/8000` (RFC 4733) at any payload type;
//! * `a=ptime`, `a=sendrecv|sendonly|recvonly|inactive` at session or media level;
//! * a port of 0 (the stream is rejected, RFC 3264 §6) and `c=0.0.0.0` (RFC 2543 hold: taken as
//!   `sendonly` from the far end unless it says `inactive` or `recvonly`).
//!
//! Only the first `m=audio` line is used; other streams (video) are answered with port 0, as RFC 3264
//! §6 asks.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use crate::call::types::{Codec, Direction, MediaDescription, MediaOffer};

/// Why an SDP body could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// Not SDP at all: no `v=` line, or a line that is not `x=value`.
    #[error("malformed SDP: {what}")]
    Malformed {
        /// What is wrong.
        what: &'static str,
    },
    /// There is no audio stream.
    #[error("no audio stream")]
    NoAudio,
    /// The audio stream was rejected (port 0).
    #[error("audio stream rejected (port 0)")]
    Rejected,
    /// No codec in common.
    #[error("no codec in common")]
    NoCommonCodec,
    /// The stream has no usable connection address.
    #[error("no connection address")]
    NoConnection,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// `audio`, `video`, ...
    pub kind: String,
    /// The port (0: rejected).
    pub port: u16,
    /// The transport protocol (`RTP/AVP`).
    pub proto: String,
    /// The payload types (formats) in order of preference.
    pub formats: Vec<String>,
    /// `c=` of this section.
    pub connection: Option<IpAddr>,
    /// `a=rtpmap` entries: payload type → encoding name/clock rate.
    pub rtpmap: Vec<(u8, String)>,
    /// `a=ptime`.
    pub ptime: Option<u16>,
    /// The direction attribute of this section.
    pub direction: Option<Direction>,
}

/// A parsed session description (only what the line user agents need).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdp {
    /// The `o=` session id.
    pub session_id: String,
    /// The `o=` version.
    pub version: u64,
    /// Session-level `c=`.
    pub connection: Option<IpAddr>,
    /// Session-level direction attribute.
    pub direction: Option<Direction>,
    /// The media sections in order.
    pub media: Vec<Media>,
}

fn direction_of(attr: &str) -> Option<Direction> {
    match attr {
        "sendrecv" => Some(Direction::SendRecv),
        "sendonly" => Some(Direction::SendOnly),
        "recvonly" => Some(Direction::RecvOnly),
        "inactive" => Some(Direction::Inactive),
        _ => None,
    }
}

fn direction_token(d: Direction) -> &'static str {
    match d {
        Direction::SendRecv => "sendrecv",
        Direction::SendOnly => "sendonly",
        Direction::RecvOnly => "recvonly",
        Direction::Inactive => "inactive",
    }
}

/// The direction an answerer uses for an offered direction (RFC 3264 §6.1), limited by what the
/// answerer wants (`ours`: `SendOnly` while it holds).
pub fn answer_direction(theirs: Direction, ours: Direction) -> Direction {
    let (they_send, they_recv) = flags(theirs);
    let (we_send, we_recv) = flags(ours);
    from_flags(we_send && they_recv, we_recv && they_send)
}

const fn flags(d: Direction) -> (bool, bool) {
    match d {
        Direction::SendRecv => (true, true),
        Direction::SendOnly => (true, false),
        Direction::RecvOnly => (false, true),
        Direction::Inactive => (false, false),
    }
}

const fn from_flags(send: bool, recv: bool) -> Direction {
    match (send, recv) {
        (true, true) => Direction::SendRecv,
        (true, false) => Direction::SendOnly,
        (false, true) => Direction::RecvOnly,
        (false, false) => Direction::Inactive,
    }
}

fn parse_connection(value: &str) -> Result<IpAddr, SdpError> {
    // c=IN IP4 192.0.2.1[/ttl[/n]]
    let mut it = value.split_ascii_whitespace();
    let (Some("IN"), Some(_), Some(addr)) = (it.next(), it.next(), it.next()) else {
        return Err(SdpError::Malformed { what: "c= line" });
    };
    let addr = addr.split('/').next().unwrap_or(addr);
    addr.parse()
        .map_err(|_| SdpError::Malformed { what: "c= address" })
}

impl Sdp {
    /// Parses an SDP body. Unknown lines and attributes are ignored; CRLF or LF line ends.
    ///
    /// # Errors
    /// [`SdpError::Malformed`] for a body that does not start with `v=` or has a malformed `c=`/`m=`.
    pub fn parse(text: &str) -> Result<Self, SdpError> {
        let mut lines = text
            .split('\n')
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| !l.is_empty());
        if lines.next().is_none_or(|l| !l.starts_with("v=")) {
            return Err(SdpError::Malformed { what: "no v= line" });
        }
        let mut sdp = Self {
            session_id: String::new(),
            version: 0,
            connection: None,
            direction: None,
            media: Vec::new(),
        };
        for line in lines {
            let Some((key, value)) = line.split_once('=') else {
                return Err(SdpError::Malformed {
                    what: "line without =",
                });
            };
            let value = value.trim();
            match key {
                "o" => {
                    let mut it = value.split_ascii_whitespace().skip(1);
                    sdp.session_id = it.next().unwrap_or_default().to_owned();
                    sdp.version = it.next().and_then(|v| v.parse().ok()).unwrap_or(0);
                }
                "c" => {
                    let ip = parse_connection(value)?;
                    match sdp.media.last_mut() {
                        Some(m) => m.connection = Some(ip),
                        None => sdp.connection = Some(ip),
                    }
                }
                "m" => {
                    let mut it = value.split_ascii_whitespace();
                    let kind = it.next().unwrap_or_default().to_owned();
                    let port = it
                        .next()
                        .and_then(|p| p.split('/').next())
                        .and_then(|p| p.parse().ok())
                        .ok_or(SdpError::Malformed { what: "m= port" })?;
                    let proto = it.next().unwrap_or_default().to_owned();
                    sdp.media.push(Media {
                        kind,
                        port,
                        proto,
                        formats: it.map(str::to_owned).collect(),
                        connection: None,
                        rtpmap: Vec::new(),
                        ptime: None,
                        direction: None,
                    });
                }
                "a" => sdp.on_attribute(value),
                _ => {}
            }
        }
        Ok(sdp)
    }

    fn on_attribute(&mut self, value: &str) {
        let (name, arg) = value.split_once(':').unwrap_or((value, ""));
        if let Some(d) = direction_of(name) {
            match self.media.last_mut() {
                Some(m) => m.direction = Some(d),
                None => self.direction = Some(d),
            }
            return;
        }
        let Some(m) = self.media.last_mut() else {
            return;
        };
        match name {
            "rtpmap" => {
                let mut it = arg.split_ascii_whitespace();
                if let (Some(Ok(pt)), Some(enc)) = (it.next().map(str::parse::<u8>), it.next()) {
                    m.rtpmap.push((pt, enc.to_owned()));
                }
            }
            "ptime" => m.ptime = arg.trim().parse().ok(),
            _ => {}
        }
    }

    /// The first audio section.
    pub fn audio(&self) -> Option<&Media> {
        self.media.iter().find(|m| m.kind == "audio")
    }

    /// The far end's audio stream: where it receives, its codecs in its order (with their payload
    /// types), ptime, telephone-event and direction.
    ///
    /// # Errors
    /// [`SdpError::NoAudio`], [`SdpError::Rejected`] (port 0) or [`SdpError::NoConnection`].
    pub fn remote_audio(&self) -> Result<RemoteAudio, SdpError> {
        let m = self.audio().ok_or(SdpError::NoAudio)?;
        if m.port == 0 {
            return Err(SdpError::Rejected);
        }
        let ip = m
            .connection
            .or(self.connection)
            .ok_or(SdpError::NoConnection)?;
        let mut codecs = Vec::new();
        let mut telephone_event = None;
        for f in &m.formats {
            let Ok(pt) = f.parse::<u8>() else { continue };
            let enc = m
                .rtpmap
                .iter()
                .find(|(p, _)| *p == pt)
                .map(|(_, e)| e.as_str());
            match enc {
                Some(e) if e.to_ascii_lowercase().starts_with("telephone-event/") => {
                    telephone_event.get_or_insert(pt);
                }
                Some(e) => {
                    let name = e.split('/').next().unwrap_or(e);
                    if let Some(c) = Codec::ALL
                        .into_iter()
                        .find(|c| c.encoding_name().eq_ignore_ascii_case(name))
                    {
                        codecs.push((c, pt));
                    }
                }
                None => {
                    if let Some(c) = Codec::from_payload_type(pt) {
                        codecs.push((c, pt));
                    }
                }
            }
        }
        let mut direction = m.direction.or(self.direction).unwrap_or_default();
        if ip.is_unspecified() && !matches!(direction, Direction::Inactive | Direction::RecvOnly) {
            // RFC 2543 hold: the far end wants no media.
            direction = Direction::SendOnly;
        }
        Ok(RemoteAudio {
            rtp: SocketAddr::new(ip, m.port),
            codecs,
            ptime_ms: m.ptime.unwrap_or(20),
            telephone_event,
            direction,
        })
    }
}

/// The far end's audio stream as its SDP describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteAudio {
    /// Where it receives.
    pub rtp: SocketAddr,
    /// Its codecs with their payload types, preferred first.
    pub codecs: Vec<(Codec, u8)>,
    /// Its ptime (20 when not given).
    pub ptime_ms: u16,
    /// Its telephone-event payload type.
    pub telephone_event: Option<u8>,
    /// Its direction.
    pub direction: Direction,
}

impl RemoteAudio {
    /// What was agreed with our `ours`: the first of the far end's codecs we accept (the offerer's
    /// preference rules, RFC 3264 §6.1), telephone-event when both have it.
    ///
    /// # Errors
    /// [`SdpError::NoCommonCodec`].
    pub fn agree(&self, ours: &MediaOffer) -> Result<MediaDescription, SdpError> {
        let (codec, pt) = self
            .codecs
            .iter()
            .find(|(c, _)| ours.codecs.contains(c))
            .copied()
            .ok_or(SdpError::NoCommonCodec)?;
        Ok(MediaDescription {
            rtp: self.rtp,
            codec,
            payload_type: pt,
            ptime_ms: self.ptime_ms,
            telephone_event: self
                .telephone_event
                .filter(|_| ours.telephone_event.is_some()),
            direction: self.direction,
        })
    }
}

/// Identity of our session descriptions (`o=` line): the session id stays, the version goes up with
/// every new description (RFC 3264 §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Session id.
    pub session_id: u64,
    /// Version of the last description sent.
    pub version: u64,
}

impl Origin {
    /// A new origin with this session id.
    pub fn new(session_id: u64) -> Self {
        Self {
            session_id,
            version: 0,
        }
    }
}

fn ip_kind(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() { "IP4" } else { "IP6" }
}

/// Writes our audio stream: `codecs` (with their payload types) in order, telephone-event when set
/// (as pt 101 unless `te_pt` says otherwise), ptime and direction. Bumps `origin.version`.
fn write_sdp(
    origin: &mut Origin,
    rtp: SocketAddr,
    codecs: &[(Codec, u8)],
    te_pt: Option<u8>,
    ptime: u16,
    direction: Direction,
    extra_rejected: &[&Media],
) -> String {
    origin.version = origin.version.saturating_add(1);
    let ip = rtp.ip();
    let mut s = String::with_capacity(256);
    let _ = write!(
        s,
        "v=0\r\no=crossbar {} {} IN {} {ip}\r\ns=crossbar\r\nc=IN {} {ip}\r\nt=0 0\r\nm=audio {} RTP/AVP",
        origin.session_id,
        origin.version,
        ip_kind(ip),
        ip_kind(ip),
        rtp.port()
    );
    for (_, pt) in codecs {
        let _ = write!(s, " {pt}");
    }
    if let Some(te) = te_pt {
        let _ = write!(s, " {te}");
    }
    s.push_str("\r\n");
    for (c, pt) in codecs {
        let _ = write!(s, "a=rtpmap:{pt} {}/8000\r\n", c.encoding_name());
    }
    if let Some(te) = te_pt {
        let _ = write!(
            s,
            "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-15\r\n"
        );
    }
    let _ = write!(s, "a=ptime:{ptime}\r\na={}\r\n", direction_token(direction));
    for m in extra_rejected {
        let _ = write!(
            s,
            "m={} 0 {} {}\r\n",
            m.kind,
            m.proto,
            m.formats.first().map_or("0", String::as_str)
        );
    }
    s
}

/// Our SDP offer for `offer`.
pub fn offer(origin: &mut Origin, offer: &MediaOffer) -> String {
    let codecs: Vec<(Codec, u8)> = offer
        .codecs
        .iter()
        .map(|c| (*c, c.payload_type()))
        .collect();
    write_sdp(
        origin,
        offer.rtp,
        &codecs,
        offer.telephone_event,
        offer.ptime_ms,
        offer.direction,
        &[],
    )
}

/// Answers the far end's offer with our `ours` (RFC 3264 §6): the agreed media and our SDP answer.
/// The answer carries the chosen codec with the offerer's payload type, telephone-event with the
/// offerer's payload type when both have it, the direction of [`answer_direction`], and port 0 for
/// every other stream offered.
///
/// # Errors
/// As [`Sdp::remote_audio`] and [`RemoteAudio::agree`].
pub fn answer(
    origin: &mut Origin,
    remote: &Sdp,
    ours: &MediaOffer,
) -> Result<(MediaDescription, String), SdpError> {
    let audio = remote.remote_audio()?;
    let agreed = audio.agree(ours)?;
    let direction = answer_direction(audio.direction, ours.direction);
    let others: Vec<&Media> = remote.media.iter().filter(|m| m.kind != "audio").collect();
    let text = write_sdp(
        origin,
        ours.rtp,
        &[(agreed.codec, agreed.payload_type)],
        agreed.telephone_event,
        ours.ptime_ms,
        direction,
        &others,
    );
    Ok((agreed, text))
}

/// Reads the far end's answer to our offer: the agreed media.
///
/// # Errors
/// As [`Sdp::remote_audio`] and [`RemoteAudio::agree`].
pub fn read_answer(answer: &str, ours: &MediaOffer) -> Result<MediaDescription, SdpError> {
    Sdp::parse(answer)?.remote_audio()?.agree(ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(port: u16) -> MediaOffer {
        MediaOffer {
            rtp: SocketAddr::from(([192, 0, 2, 10], port)),
            codecs: vec![Codec::Pcmu, Codec::Pcma, Codec::G729],
            ptime_ms: 20,
            telephone_event: Some(101),
            direction: Direction::SendRecv,
        }
    }

    /// RFC 4317 §2.1, Alice's offer (audio PCMU/iLBC/telephone-event and video).
    const RFC4317_2_1_OFFER: &str = "v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com\r\n\
s=\r\n\
c=IN IP4 host.atlanta.example.com\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 0 8 97\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:97 iLBC/8000\r\n\
m=video 51372 RTP/AVP 31 32\r\n\
a=rtpmap:31 H261/90000\r\n\
a=rtpmap:32 MPV/90000\r\n";

    #[test]
    fn host_names_in_c_are_malformed_for_us() {
        // We only use IP literals (RFC 4317 uses names; replaced below with documentation addresses).
        assert!(matches!(
            Sdp::parse(RFC4317_2_1_OFFER),
            Err(SdpError::Malformed { .. })
        ));
    }

    fn rfc4317_offer() -> String {
        RFC4317_2_1_OFFER.replace("host.atlanta.example.com", "192.0.2.101")
    }

    #[test]
    fn rfc4317_2_1_answer_keeps_first_common_codec_and_rejects_video() {
        let offer = Sdp::parse(&rfc4317_offer()).unwrap();
        assert_eq!(offer.media.len(), 2);
        let mut origin = Origin::new(7);
        let (agreed, text) = answer(&mut origin, &offer, &ours(4000)).unwrap();
        assert_eq!(agreed.codec, Codec::Pcmu);
        assert_eq!(agreed.payload_type, 0);
        assert_eq!(agreed.rtp, SocketAddr::from(([192, 0, 2, 101], 49170)));
        assert_eq!(agreed.telephone_event, None);
        let back = Sdp::parse(&text).unwrap();
        assert_eq!(back.media.len(), 2);
        let audio = back.remote_audio().unwrap();
        assert_eq!(audio.codecs, vec![(Codec::Pcmu, 0)]);
        assert_eq!(audio.rtp, SocketAddr::from(([192, 0, 2, 10], 4000)));
        assert_eq!(back.media[1].port, 0, "video rejected");
        assert!(text.contains("m=video 0 RTP/AVP 31\r\n"));
    }

    /// RFC 4317 §2.1 Bob's answer (PCMU and telephone-event; video H261) as our offer's answer.
    #[test]
    fn rfc4317_answer_read_by_the_offerer() {
        let bob = "v=0\r\no=bob 2808844564 2808844564 IN IP4 192.0.2.102\r\ns=\r\nc=IN IP4 192.0.2.102\r\n\
t=0 0\r\nm=audio 49174 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\nm=video 49170 RTP/AVP 32\r\na=rtpmap:32 MPV/90000\r\n";
        let agreed = read_answer(bob, &ours(4000)).unwrap();
        assert_eq!(agreed.codec, Codec::Pcmu);
        assert_eq!(agreed.rtp, SocketAddr::from(([192, 0, 2, 102], 49174)));
        assert_eq!(agreed.direction, Direction::SendRecv);
    }

    /// RFC 4317 §2.2: the answerer supports only one codec and dynamic telephone-event.
    #[test]
    fn rfc4317_2_2_dynamic_telephone_event() {
        let offer = "v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.101\r\ns=\r\nc=IN IP4 192.0.2.101\r\n\
t=0 0\r\nm=audio 49170 RTP/AVP 0 97 98\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:97 iLBC/8000\r\n\
a=rtpmap:98 telephone-event/8000\r\n";
        let mut origin = Origin::new(1);
        let (agreed, text) = answer(&mut origin, &Sdp::parse(offer).unwrap(), &ours(5000)).unwrap();
        assert_eq!(agreed.telephone_event, Some(98));
        assert!(text.contains("a=rtpmap:98 telephone-event/8000"));
        assert!(text.contains("m=audio 5000 RTP/AVP 0 98\r\n"));
    }

    /// RFC 4317 §5.1-style hold: the holder re-offers `sendonly`; the held side answers `recvonly`.
    #[test]
    fn hold_offer_answered_recvonly_and_rfc2543_hold() {
        let hold = "v=0\r\no=a 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
m=audio 30000 RTP/AVP 8\r\na=sendonly\r\n";
        let mut origin = Origin::new(1);
        let (agreed, text) = answer(&mut origin, &Sdp::parse(hold).unwrap(), &ours(5000)).unwrap();
        assert_eq!(agreed.direction, Direction::SendOnly);
        assert_eq!(agreed.codec, Codec::Pcma);
        assert!(text.contains("a=recvonly"));
        let old = "v=0\r\no=a 1 3 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n\
m=audio 30000 RTP/AVP 0\r\n";
        let remote = Sdp::parse(old).unwrap().remote_audio().unwrap();
        assert_eq!(remote.direction, Direction::SendOnly);
        assert!(remote.rtp.ip().is_unspecified());
    }

    #[test]
    fn media_level_connection_wins_and_session_direction_applies() {
        let s = "v=0\no=- 5 6 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\na=inactive\n\
m=audio 7000 RTP/AVP 18\nc=IN IP6 2001:db8::5\na=ptime:30\n";
        let remote = Sdp::parse(s).unwrap().remote_audio().unwrap();
        assert_eq!(remote.rtp, "[2001:db8::5]:7000".parse().unwrap());
        assert_eq!(remote.codecs, vec![(Codec::G729, 18)]);
        assert_eq!(remote.ptime_ms, 30);
        assert_eq!(remote.direction, Direction::Inactive);
    }

    #[test]
    fn rejections() {
        let zero = "v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 0 RTP/AVP 0\r\n";
        assert_eq!(
            Sdp::parse(zero).unwrap().remote_audio(),
            Err(SdpError::Rejected)
        );
        let video = "v=0\r\nc=IN IP4 192.0.2.1\r\nm=video 5000 RTP/AVP 31\r\n";
        assert_eq!(
            Sdp::parse(video).unwrap().remote_audio(),
            Err(SdpError::NoAudio)
        );
        let g723 = "v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 5000 RTP/AVP 4\r\n";
        assert_eq!(read_answer(g723, &ours(1)), Err(SdpError::NoCommonCodec));
        let noc = "v=0\r\nm=audio 5000 RTP/AVP 0\r\n";
        assert_eq!(
            Sdp::parse(noc).unwrap().remote_audio(),
            Err(SdpError::NoConnection)
        );
        assert!(Sdp::parse("hello").is_err());
        assert!(Sdp::parse("v=0\r\nm=audio x RTP/AVP 0\r\n").is_err());
        assert!(Sdp::parse("").is_err());
    }

    #[test]
    fn dynamic_payload_type_by_name() {
        let s = "v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 5000 RTP/AVP 96\r\na=rtpmap:96 pcma/8000\r\n";
        let agreed = read_answer(s, &ours(1)).unwrap();
        assert_eq!((agreed.codec, agreed.payload_type), (Codec::Pcma, 96));
    }

    #[test]
    fn offer_round_trips_and_versions_increase() {
        let mut origin = Origin::new(42);
        let o = ours(6000);
        let first = offer(&mut origin, &o);
        let second = offer(&mut origin, &o);
        let a = Sdp::parse(&first).unwrap();
        let b = Sdp::parse(&second).unwrap();
        assert_eq!(a.session_id, "42");
        assert_eq!(b.version, a.version + 1);
        let remote = a.remote_audio().unwrap();
        assert_eq!(
            remote.codecs,
            vec![(Codec::Pcmu, 0), (Codec::Pcma, 8), (Codec::G729, 18)]
        );
        assert_eq!(remote.telephone_event, Some(101));
        assert_eq!(remote.rtp, o.rtp);
        assert_eq!(remote.direction, Direction::SendRecv);
    }

    #[test]
    fn answer_directions() {
        use Direction::*;
        assert_eq!(answer_direction(SendOnly, SendRecv), RecvOnly);
        assert_eq!(answer_direction(RecvOnly, SendRecv), SendOnly);
        assert_eq!(answer_direction(Inactive, SendRecv), Inactive);
        assert_eq!(answer_direction(SendRecv, SendRecv), SendRecv);
        assert_eq!(answer_direction(SendRecv, SendOnly), SendOnly);
        assert_eq!(answer_direction(SendOnly, SendOnly), Inactive);
    }
}
