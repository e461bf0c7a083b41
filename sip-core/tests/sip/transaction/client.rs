//! Client transactions: INVITE (§17.1.1, RFC 6026 §7.2) and non-INVITE (§17.1.2).

use super::*;
use sip_core::transaction::{Role, Timer, TransactionError};

const BRANCH: &str = "z9hG4bK74bf9";

#[test]
fn invite_happy_path_passes_every_2xx_up_until_timer_m() {
    let mut h = Harness::new();
    let inv = invite(BRANCH);
    let key = h.send_request(&inv, "proxy", UDP);
    assert_eq!(key.role(), Role::Client);
    assert_eq!(key.branch(), Some(BRANCH));
    assert_eq!(h.state(&key), Some(TxState::Calling));
    assert_eq!(h.sent_at("INVITE"), vec![0]);

    h.run_until(ms(300));
    let ringing = h.receive(&response(&inv, 180, "Ringing", Some("b1")), "proxy", UDP);
    assert!(matches!(ringing, Incoming::Response { key: k, .. } if k == key));
    assert_eq!(h.state(&key), Some(TxState::Proceeding));
    // No retransmission after a provisional, and timer B no longer runs.
    h.run_until(ms(40_000));
    assert_eq!(h.sent_at("INVITE"), vec![0]);
    assert_eq!(h.state(&key), Some(TxState::Proceeding));

    let ok = response(&inv, 200, "OK", Some("b1"));
    assert!(matches!(
        h.receive(&ok, "proxy", UDP),
        Incoming::Response { .. }
    ));
    assert_eq!(h.state(&key), Some(TxState::Accepted));
    // RFC 6026: retransmissions of the 2xx, and 2xx from other forks, still reach the TU.
    assert!(matches!(
        h.receive(&ok, "proxy", UDP),
        Incoming::Response { .. }
    ));
    let fork = response(&inv, 200, "OK", Some("b2"));
    assert!(matches!(
        h.receive(&fork, "proxy", UDP),
        Incoming::Response { .. }
    ));
    // The layer never ACKs a 2xx itself.
    assert_eq!(h.wire.len(), 1);

    h.run_until(ms(40_000 + 31_999));
    assert_eq!(h.layer.len(), 1);
    h.run_until(ms(40_000 + 32_000));
    assert_eq!(h.take_events(), vec![terminated(&key)]);
    assert!(h.layer.is_empty());
    assert_eq!(h.layer.poll_timeout(), None);
    // Once gone, a late 2xx is stray (a proxy forwards it statelessly).
    assert!(matches!(
        h.receive(&ok, "proxy", UDP),
        Incoming::StrayResponse { .. }
    ));
}

#[test]
fn invite_lost_over_udp_is_retransmitted_with_doubling_a_until_timer_b() {
    let mut h = Harness::new();
    let key = h.send_request(&invite(BRANCH), "proxy", UDP);
    h.run_until(ms(31_999));
    // Timer A: T1, then doubling without a cap (§17.1.1.2).
    assert_eq!(
        h.sent_at("INVITE"),
        vec![0, 500, 1_500, 3_500, 7_500, 15_500, 31_500]
    );
    assert!(h.take_events().is_empty());
    h.run_until(ms(32_000));
    assert_eq!(
        h.take_events(),
        vec![
            TxEvent::Timeout {
                key: key.clone(),
                timer: Timer::B
            },
            terminated(&key)
        ]
    );
    assert!(h.layer.is_empty());
    h.run_until(ms(100_000));
    assert_eq!(h.wire.len(), 7);
}

#[test]
fn invite_over_tcp_is_never_retransmitted() {
    let mut h = Harness::new();
    let key = h.send_request(&invite(BRANCH), "proxy", TCP);
    h.run_until(ms(31_999));
    assert_eq!(h.sent_at("INVITE"), vec![0]);
    h.run_until(ms(32_000));
    assert_eq!(
        h.take_events()[0],
        TxEvent::Timeout {
            key,
            timer: Timer::B
        }
    );
}

#[test]
fn a_486_is_acked_per_17_1_1_3_and_the_ack_resent_for_each_retransmission() {
    let mut h = Harness::new();
    let inv = invite(BRANCH);
    let key = h.send_request(&inv, "proxy", UDP);
    h.run_until(ms(700));
    assert_eq!(h.take_wire().len(), 2);

    let busy = response(&inv, 486, "Busy Here", Some("bob-tag"));
    assert!(matches!(
        h.receive(&busy, "proxy", UDP),
        Incoming::Response { .. }
    ));
    assert_eq!(h.state(&key), Some(TxState::Completed));
    let wire = h.take_wire();
    assert_eq!(wire.len(), 1);
    let ack = parse(&wire[0]);
    let original = msg(&inv);
    assert_eq!(
        ack.start.to_string(),
        "ACK sip:bob@biloxi.example.com SIP/2.0"
    );
    assert_eq!(
        ack.headers.get_all(&HeaderName::VIA).collect::<Vec<_>>(),
        vec!["SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9"]
    );
    assert_eq!(
        header(&ack, &HeaderName::FROM),
        header(&original, &HeaderName::FROM)
    );
    assert_eq!(
        header(&ack, &HeaderName::TO),
        "Bob <sip:bob@biloxi.example.com>;tag=bob-tag"
    );
    assert_eq!(
        header(&ack, &HeaderName::CALL_ID),
        header(&original, &HeaderName::CALL_ID)
    );
    assert_eq!(header(&ack, &HeaderName::CSEQ), "1 ACK");
    assert_eq!(
        ack.headers.get_all(&HeaderName::ROUTE).collect::<Vec<_>>(),
        vec!["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    );
    assert_eq!(header(&ack, &HeaderName::MAX_FORWARDS), "70");
    assert!(!ack.headers.contains(&HeaderName::CONTACT));

    // The 486 again (our ACK was lost): absorbed, the identical ACK goes out again.
    h.run_until(ms(1_200));
    assert!(matches!(
        h.receive(&busy, "proxy", UDP),
        Incoming::Absorbed { .. }
    ));
    assert_eq!(h.take_wire(), wire);
    // No INVITE retransmission in Completed; timer D ends it at 32 s after the 486.
    h.run_until(ms(700 + 31_999));
    assert!(h.wire.is_empty());
    assert_eq!(h.layer.len(), 1);
    h.run_until(ms(700 + 32_000));
    assert_eq!(h.take_events(), vec![terminated(&key)]);
}

#[test]
fn a_486_over_tcp_is_acked_and_the_transaction_ends_at_once() {
    let mut h = Harness::new();
    let inv = invite(BRANCH);
    let key = h.send_request(&inv, "proxy", TCP);
    h.receive(&response(&inv, 486, "Busy Here", Some("t")), "proxy", TCP);
    assert_eq!(h.sent_at("ACK"), vec![0]);
    assert_eq!(h.take_events(), vec![terminated(&key)]);
    assert!(h.layer.is_empty());
}

#[test]
fn non_invite_lost_over_udp_doubles_e_up_to_t2_until_timer_f() {
    let mut h = Harness::new();
    let key = h.send_request(&options(BRANCH), "proxy", UDP);
    h.run_until(ms(31_999));
    let expected = vec![
        0, 500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500,
    ];
    assert_eq!(h.sent_at("OPTIONS"), expected);
    h.run_until(ms(32_000));
    assert_eq!(
        h.take_events(),
        vec![
            TxEvent::Timeout {
                key: key.clone(),
                timer: Timer::F
            },
            terminated(&key)
        ]
    );
}

#[test]
fn non_invite_in_proceeding_retransmits_every_t2() {
    let mut h = Harness::new();
    let req = options(BRANCH);
    let key = h.send_request(&req, "proxy", UDP);
    h.run_until(ms(700));
    assert!(matches!(
        h.receive(&response(&req, 100, "Trying", None), "proxy", UDP),
        Incoming::Response { .. }
    ));
    assert_eq!(h.state(&key), Some(TxState::Proceeding));
    h.run_until(ms(14_000));
    // The retransmission armed in Trying (1.5 s) still fires, then every T2 = 4 s.
    assert_eq!(
        h.sent_at("OPTIONS"),
        vec![0, 500, 1_500, 5_500, 9_500, 13_500]
    );
    let ok = response(&req, 200, "OK", Some("x"));
    assert!(matches!(
        h.receive(&ok, "proxy", UDP),
        Incoming::Response { .. }
    ));
    assert_eq!(h.state(&key), Some(TxState::Completed));
    // Retransmitted final responses are absorbed during timer K (T4).
    assert!(matches!(
        h.receive(&ok, "proxy", UDP),
        Incoming::Absorbed { .. }
    ));
    h.run_until(ms(14_000 + 4_999));
    assert_eq!(h.layer.len(), 1);
    h.run_until(ms(14_000 + 5_000));
    assert_eq!(h.take_events(), vec![terminated(&key)]);
    assert_eq!(h.sent_at("OPTIONS").len(), 6);
}

#[test]
fn non_invite_over_tcp_has_no_retransmissions_and_no_timer_k() {
    let mut h = Harness::new();
    let req = options(BRANCH);
    let key = h.send_request(&req, "proxy", TCP);
    h.run_until(ms(10_000));
    assert_eq!(h.sent_at("OPTIONS"), vec![0]);
    h.receive(&response(&req, 200, "OK", None), "proxy", TCP);
    assert_eq!(h.take_events(), vec![terminated(&key)]);
    assert!(h.layer.is_empty());
}

#[test]
fn responses_match_by_branch_and_cseq_method() {
    let mut h = Harness::new();
    let inv = invite(BRANCH);
    h.send_request(&inv, "proxy", UDP);
    // Same branch, CSeq method CANCEL: the response to a CANCEL, not to the INVITE (§17.1.3).
    let cancel_ok = response(&inv, 200, "OK", None).replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL");
    assert!(matches!(
        h.receive(&cancel_ok, "proxy", UDP),
        Incoming::StrayResponse { .. }
    ));
    let other = response(&invite("z9hG4bKother"), 180, "Ringing", None);
    assert!(matches!(
        h.receive(&other, "proxy", UDP),
        Incoming::StrayResponse { .. }
    ));
}

#[test]
fn cancel_is_built_from_the_invite_and_runs_as_its_own_transaction() {
    let mut h = Harness::new();
    let inv = invite(BRANCH);
    let key = h.send_request(&inv, "proxy", UDP);
    h.receive(&response(&inv, 180, "Ringing", Some("b")), "proxy", UDP);
    let cancel = h.layer.build_cancel(&key).expect("cancel");
    assert_eq!(
        cancel.start.to_string(),
        "CANCEL sip:bob@biloxi.example.com SIP/2.0"
    );
    assert_eq!(header(&cancel, &HeaderName::CSEQ), "1 CANCEL");
    assert_eq!(
        header(&cancel, &HeaderName::TO),
        "Bob <sip:bob@biloxi.example.com>"
    );
    assert_eq!(
        header(&cancel, &HeaderName::VIA),
        header(&msg(&inv), &HeaderName::VIA)
    );
    assert_eq!(cancel.headers.get_all(&HeaderName::ROUTE).count(), 2);
    let ckey = h
        .layer
        .send_request(h.now, cancel, "proxy", UDP)
        .expect("cancel txn");
    assert_ne!(ckey, key);
    assert_eq!(h.layer.len(), 2);
    assert_eq!(
        h.layer.build_cancel(&ckey),
        Err(TransactionError::WrongRole)
    );
}

#[test]
fn after_its_final_response_an_invite_keeps_no_request_and_cannot_be_cancelled() {
    for (code, reason) in [(200, "OK"), (486, "Busy Here")] {
        let mut h = Harness::new();
        let inv = invite(BRANCH);
        let key = h.send_request(&inv, "proxy", UDP);
        h.receive(&response(&inv, 180, "Ringing", Some("b")), "proxy", UDP);
        assert!(h.layer.build_cancel(&key).is_ok(), "{code}: ringing");
        h.receive(&response(&inv, code, reason, Some("b")), "proxy", UDP);
        // The transaction lives on (Timer M for the 2xx, Timer D for the 486) without the INVITE.
        assert_eq!(h.layer.len(), 1, "{code}");
        assert_eq!(
            h.layer.build_cancel(&key),
            Err(TransactionError::NotCancellable),
            "{code}"
        );
    }
}

#[test]
fn send_request_refuses_what_is_not_a_transaction() {
    let mut h = Harness::new();
    let t = h.now;
    let ack = invite(BRANCH).replace("INVITE", "ACK");
    assert_eq!(
        h.layer.send_request(t, msg(&ack), "p", UDP),
        Err(TransactionError::AckNotATransaction)
    );
    for branch in ["z9hG4bK", "1234"] {
        let r = h.layer.send_request(t, msg(&options(branch)), "p", UDP);
        assert_eq!(r, Err(TransactionError::MissingBranch));
    }
    h.layer
        .send_request(t, msg(&options(BRANCH)), "p", UDP)
        .expect("first");
    let again = h.layer.send_request(t, msg(&options(BRANCH)), "p", UDP);
    assert_eq!(again, Err(TransactionError::Duplicate));
    let no_via = options(BRANCH).replace("Via: ", "X-Via: ");
    let r = h.layer.send_request(t, msg(&no_via), "p", UDP);
    assert_eq!(r, Err(TransactionError::Malformed { header: "Via" }));
}

#[test]
fn client_limit_and_transport_error() {
    let mut h = Harness::with_config(Config {
        max_client: 1,
        ..Config::default()
    });
    let key = h.send_request(&options(BRANCH), "p", UDP);
    let r = h
        .layer
        .send_request(h.now, msg(&options("z9hG4bK2")), "p", UDP);
    assert_eq!(r, Err(TransactionError::Full { limit: 1 }));
    h.layer.handle_transport_error(&key);
    h.drain();
    assert_eq!(
        h.take_events(),
        vec![
            TxEvent::TransportError { key: key.clone() },
            terminated(&key)
        ]
    );
    assert_eq!(h.layer.poll_timeout(), None);
    h.send_request(&options("z9hG4bK2"), "p", UDP);
}

#[test]
fn deadlines_of_many_transactions_interleave() {
    let mut h = Harness::new();
    let a = h.send_request(&options("z9hG4bKa"), "a", UDP);
    h.run_until(ms(200));
    let b = h.send_request(&options("z9hG4bKb"), "b", TCP);
    assert_eq!(h.layer.poll_timeout(), Some(h.start + ms(500)));
    h.run_until(ms(32_199));
    let to_b: Vec<_> = h.wire.iter().filter(|(_, p, _)| *p == "b").collect();
    assert_eq!(to_b.len(), 1);
    assert_eq!(
        h.take_events(),
        vec![
            TxEvent::Timeout {
                key: a.clone(),
                timer: Timer::F
            },
            terminated(&a)
        ]
    );
    h.run_until(ms(32_200));
    assert_eq!(
        h.take_events(),
        vec![
            TxEvent::Timeout {
                key: b.clone(),
                timer: Timer::F
            },
            terminated(&b)
        ]
    );
}

#[test]
fn a_failed_connection_ends_every_transaction_towards_that_peer() {
    let mut h = Harness::new();
    let a1 = h.send_request(&options("z9hG4bKa1"), "a", TCP);
    let a2 = h.send_request(&invite("z9hG4bKa2"), "a", TCP);
    let b = h.send_request(&options("z9hG4bKb1"), "b", TCP);
    h.layer.handle_peer_error(&"a");
    h.drain();
    let events = h.take_events();
    assert_eq!(events.len(), 4);
    for key in [&a1, &a2] {
        assert!(events.contains(&TxEvent::TransportError { key: key.clone() }));
        assert!(events.contains(&terminated(key)));
    }
    assert_eq!(h.layer.len(), 1);
    assert_eq!(h.state(&b), Some(TxState::Trying));
}
