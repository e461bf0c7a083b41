use super::*;

fn binding(contact: &str, q: u16, expires_at: u64) -> Binding {
    Binding {
        contact: contact.into(),
        expires_at,
        q,
        call_id: "a84b4c76e66710@pc33.atlanta.com".into(),
        cseq: 1,
        path: Vec::new(),
        transport: "UDP".into(),
        received: "192.0.2.10:5060".into(),
        user_agent: "Zoiper rv2.10.20.3".into(),
        owner: "".into(),
    }
}

#[test]
fn aor_case_rules() {
    let a = Aor::new("Alice", "ACME.example.com");
    assert_eq!(a.domain, "acme.example.com");
    assert_eq!(
        a,
        Aor {
            user: "Alice".into(),
            domain: "Acme.Example.COM".into()
        }
    );
    assert_ne!(a, Aor::new("alice", "acme.example.com"));
    let mut t = Location::new();
    t.replace(
        Aor {
            user: "Alice".into(),
            domain: "Acme.Example.COM".into(),
        },
        vec![binding("sip:a@h", 1000, 100)],
    );
    assert_eq!(t.lookup(&a, 0).len(), 1, "hash must agree with eq");
    assert_eq!(a.to_string(), "Alice@acme.example.com");
}

#[test]
fn domains_are_isolated() {
    let mut t = Location::new();
    t.replace(
        Aor::new("1001", "acme.example.com"),
        vec![binding("sip:1001@10.0.0.1", 1000, 100)],
    );
    assert!(
        t.lookup(&Aor::new("1001", "globex.example.com"), 0)
            .is_empty()
    );
    assert!(!t.contains(&Aor::new("1001", "globex.example.com")));
    assert_eq!(t.lookup(&Aor::new("1001", "acme.example.com"), 0).len(), 1);
}

#[test]
fn lookup_live_sorted_by_q() {
    let mut t = Location::new();
    let aor = Aor::new("1001", "acme.example.com");
    t.replace(
        aor.clone(),
        vec![
            binding("sip:low@h", 100, 500),
            binding("sip:gone@h", 1000, 50),
            binding("sip:high@h", 900, 500),
            binding("sip:mid@h", 500, 500),
        ],
    );
    let got: Vec<_> = t.lookup(&aor, 60).iter().map(|b| &*b.contact).collect();
    assert_eq!(got, ["sip:high@h", "sip:mid@h", "sip:low@h"]);
    assert_eq!(t.bindings(&aor).len(), 4);
    assert_eq!(t.binding_count(), 4);
}

#[test]
fn sweep_returns_expired_and_drops_empty_aors() {
    let mut t = Location::new();
    let a = Aor::new("1001", "acme.example.com");
    let b = Aor::new("1002", "acme.example.com");
    t.replace(
        a.clone(),
        vec![binding("sip:x@h", 1000, 100), binding("sip:y@h", 1000, 200)],
    );
    t.replace(b.clone(), vec![binding("sip:z@h", 1000, 100)]);
    let mut gone = t.sweep(100);
    gone.sort_by(|x, y| x.1.contact.cmp(&y.1.contact));
    assert_eq!(gone.len(), 2);
    assert_eq!(
        (gone[0].0.clone(), gone[0].1.contact.as_ref()),
        (a.clone(), "sip:x@h")
    );
    assert_eq!(
        (gone[1].0.clone(), gone[1].1.contact.as_ref()),
        (b, "sip:z@h")
    );
    assert_eq!((t.aor_count(), t.binding_count()), (1, 1));
    assert!(t.sweep(100).is_empty());
    assert_eq!(t.replace(a, Vec::new()).len(), 1);
    assert_eq!((t.aor_count(), t.binding_count()), (0, 0));
}

#[test]
fn add_replaces_same_contact() {
    let mut t = Location::new();
    let a = Aor::new("1001", "acme.example.com");
    t.add(a.clone(), binding("sip:x@h", 1000, 100));
    t.add(a.clone(), binding("sip:x@h", 500, 300));
    t.add(a.clone(), binding("sip:y@h", 700, 300));
    let got: Vec<_> = t.bindings(&a).iter().map(|b| (&*b.contact, b.q)).collect();
    assert_eq!(got, [("sip:y@h", 700), ("sip:x@h", 500)]);
    assert_eq!(t.binding_count(), 2);
}

#[test]
fn path_column_round_trip() {
    let mut b = binding("sip:x@h", 1000, 1);
    b.path = vec![
        "<sip:edge1.example.net;lr>".into(),
        "\"odd, name\" <sip:p2.example.net;lr;x=\"a,b\">".into(),
    ];
    let col = b.path_column();
    assert_eq!(Binding::parse_path_column(&col), b.path);
    assert!(Binding::parse_path_column("").is_empty());
}

#[test]
fn q_text() {
    let mut b = binding("sip:x@h", 1000, 1);
    for (q, text) in [
        (1000, "1"),
        (0, "0"),
        (500, "0.5"),
        (125, "0.125"),
        (50, "0.05"),
        (1, "0.001"),
        (120, "0.12"),
        (999, "0.999"),
    ] {
        b.q = q;
        assert_eq!(b.q_text(), text);
    }
}

#[test]
fn hundred_thousand_aors_fit_well_under_200_mib() {
    let mut t = Location::with_capacity(100_000);
    for i in 0..100_000u32 {
        let mut set = vec![binding(
            &format!("sip:{i}@192.0.2.{}:5060;transport=udp", i % 250),
            1000,
            4_000_000_000,
        )];
        if i % 2 == 0 {
            set.push(binding(
                &format!("sip:{i}@198.51.100.{}:49152;ob", i % 250),
                500,
                4_000_000_000,
            ));
        }
        t.replace(Aor::new(i.to_string(), "acme.example.com"), set);
    }
    assert_eq!((t.aor_count(), t.binding_count()), (100_000, 150_000));
    let bytes = t.approx_bytes();
    eprintln!(
        "location: 100k AORs, 150k bindings: ~{} MiB ({} B/AOR)",
        bytes >> 20,
        bytes / 100_000
    );
    assert!(bytes < 100 << 20, "{bytes} bytes");
}

#[test]
fn a_borrowed_aor_finds_the_owned_one_in_any_case_of_its_domain() {
    let mut map = HashMap::new();
    map.insert(Aor::new("1001", "Acme.Example.com"), 1);
    map.insert(Aor::new("1002", "acme.example.com"), 2);
    let get = |user, domain| {
        let key = AorRef { user, domain };
        map.get(&key as &dyn AorKey).copied()
    };
    assert_eq!(get("1001", "acme.example.com"), Some(1));
    assert_eq!(get("1001", "ACME.EXAMPLE.COM"), Some(1));
    assert_eq!(get("1002", "acme.example.com"), Some(2));
    assert_eq!(get("1003", "acme.example.com"), None);
    assert_eq!(get("1001", "globex.example.com"), None);
    assert_eq!(get("ACME", "1001"), None);
}
