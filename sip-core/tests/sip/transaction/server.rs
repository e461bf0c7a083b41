//! Server transactions: INVITE (§17.2.1, RFC 6026 §7.1), non-INVITE (§17.2.2), matching (§17.2.3),
//! CANCEL (§9.2), RFC 2543 fallback, RFC 4475 §3.2.1 badbranch and the size limit.

use super::*;
use sip_core::transaction::{Role, Timer, TransactionError};

const BRANCH: &str = "z9hG4bKnashds8";

fn new_key(i: Incoming<Peer>) -> TransactionKey {
    match i {
        Incoming::Request { key, .. } => key,
        other => panic!("expected a new request, got {other:?}"),
    }
}

fn quiet() -> Config {
    Config {
        auto_trying: false,
        ..Config::default()
    }
}

#[test]
fn non_invite_absorbs_retransmissions_and_resends_the_last_response() {
    let mut h = Harness::new();
    let req = options(BRANCH);
    let key = new_key(h.receive(&req, "alice", UDP));
    assert_eq!(key.role(), Role::Server);
    assert_eq!(h.state(&key), Some(TxState::Trying));
    // Before any response a retransmission is absorbed silently.
    assert!(matches!(h.receive(&req, "alice", UDP), Incoming::Absorbed { key: k } if k == key));
    assert!(h.wire.is_empty());

    h.respond(&key, &response(&req, 180, "Ringing", None));
    assert_eq!(h.state(&key), Some(TxState::Proceeding));
    h.receive(&req, "alice", UDP);
    assert_eq!(h.sent_at("SIP/2.0 180"), vec![0, 0]);

    h.run_until(ms(100));
    h.respond(&key, &response(&req, 200, "OK", Some("srv")));
    assert_eq!(h.state(&key), Some(TxState::Completed));
    h.run_until(ms(5_000));
    h.receive(&req, "alice", UDP);
    h.receive(&req, "alice", UDP);
    assert_eq!(h.sent_at("SIP/2.0 200"), vec![100, 5_000, 5_000]);
    assert!(h.wire.iter().all(|(_, p, _)| *p == "alice"));
    let again = h
        .layer
        .send_response(h.now, &key, msg(&response(&req, 500, "Oops", None)));
    assert_eq!(
        again,
        Err(TransactionError::ResponseNotAllowed {
            state: TxState::Completed,
            code: 500
        })
    );

    // Timer J: 64·T1 after the final response.
    h.run_until(ms(100 + 31_999));
    assert_eq!(h.layer.len(), 1);
    h.run_until(ms(100 + 32_000));
    assert_eq!(h.take_events(), vec![terminated(&key)]);
    // The same request now is new again.
    assert!(matches!(
        h.receive(&req, "alice", UDP),
        Incoming::Request { .. }
    ));
}

#[test]
fn non_invite_over_tcp_ends_with_its_final_response() {
    let mut h = Harness::new();
    let req = options(BRANCH);
    let key = new_key(h.receive(&req, "alice", TCP));
    h.respond(&key, &response(&req, 200, "OK", None));
    assert_eq!(h.take_events(), vec![terminated(&key)]);
    assert_eq!(h.layer.poll_timeout(), None);
}

#[test]
fn invite_gets_an_automatic_100_trying_after_200_ms() {
    let mut h = Harness::new();
    let inv = invite(BRANCH);
    let key = new_key(h.receive(&inv, "alice", UDP));
    h.run_until(ms(199));
    assert!(h.wire.is_empty());
    h.run_until(ms(200));
    let wire = h.take_wire();
    assert_eq!(wire.len(), 1);
    let trying = parse(&wire[0]);
    assert_eq!(trying.code(), Some(100));
    let original = msg(&inv);
    assert_eq!(
        header(&trying, &HeaderName::VIA),
        header(&original, &HeaderName::VIA)
    );
    assert_eq!(
        header(&trying, &HeaderName::TO),
        header(&original, &HeaderName::TO)
    );
    assert_eq!(header(&trying, &HeaderName::CSEQ), "1 INVITE");
    // A retransmitted INVITE gets the last provisional again.
    h.receive(&inv, "alice", UDP);
    assert_eq!(h.take_wire(), wire);
    h.respond(&key, &response(&inv, 180, "Ringing", Some("b")));
    h.receive(&inv, "alice", UDP);
    assert_eq!(h.sent_at("SIP/2.0 180"), vec![200, 200]);
}

#[test]
fn no_automatic_100_when_the_tu_answers_first_or_it_is_off() {
    let mut h = Harness::new();
    let inv = invite(BRANCH);
    let key = new_key(h.receive(&inv, "alice", UDP));
    h.run_until(ms(150));
    h.respond(&key, &response(&inv, 180, "Ringing", Some("b")));
    h.run_until(ms(1_000));
    assert!(h.sent_at("SIP/2.0 100").is_empty());

    let mut h = Harness::with_config(quiet());
    new_key(h.receive(&inv, "alice", UDP));
    h.run_until(ms(1_000));
    h.receive(&inv, "alice", UDP);
    assert!(h.wire.is_empty());
}

#[test]
fn invite_486_without_ack_is_retransmitted_by_g_until_timer_h() {
    let mut h = Harness::with_config(quiet());
    let inv = invite(BRANCH);
    let key = new_key(h.receive(&inv, "alice", UDP));
    h.respond(&key, &response(&inv, 486, "Busy Here", Some("b")));
    assert_eq!(h.state(&key), Some(TxState::Completed));
    h.run_until(ms(31_999));
    let expected = vec![
        0, 500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500,
    ];
    assert_eq!(h.sent_at("SIP/2.0 486"), expected);
    assert!(h.take_events().is_empty());
    h.run_until(ms(32_000));
    assert_eq!(
        h.take_events(),
        vec![
            TxEvent::Timeout {
                key: key.clone(),
                timer: Timer::H
            },
            terminated(&key)
        ]
    );
}

#[test]
fn ack_confirms_a_486_and_timer_i_absorbs_its_retransmissions() {
    let mut h = Harness::with_config(quiet());
    let inv = invite(BRANCH);
    let key = new_key(h.receive(&inv, "alice", UDP));
    h.respond(&key, &response(&inv, 486, "Busy Here", Some("b")));
    h.run_until(ms(600));
    // A retransmitted INVITE in Completed gets the 486 again.
    h.receive(&inv, "alice", UDP);
    assert_eq!(h.sent_at("SIP/2.0 486"), vec![0, 500, 600]);

    let ack = request(
        "ACK",
        &format!("SIP/2.0/UDP client.atlanta.example.com:5060;branch={BRANCH}"),
        "3848276298220188511@atlanta.example.com",
        1,
        Some("b"),
    );
    assert!(matches!(h.receive(&ack, "alice", UDP), Incoming::Absorbed { key: k } if k == key));
    assert_eq!(h.state(&key), Some(TxState::Confirmed));
    assert!(matches!(
        h.receive(&ack, "alice", UDP),
        Incoming::Absorbed { .. }
    ));
    h.run_until(ms(600 + 4_999));
    assert_eq!(h.sent_at("SIP/2.0 486").len(), 3);
    assert_eq!(h.layer.len(), 1);
    h.run_until(ms(600 + 5_000));
    assert_eq!(h.take_events(), vec![terminated(&key)]);
}

#[test]
fn invite_486_over_tcp_is_not_retransmitted_and_the_ack_ends_it() {
    let mut h = Harness::with_config(quiet());
    let inv = invite(BRANCH);
    let key = new_key(h.receive(&inv, "alice", TCP));
    h.respond(&key, &response(&inv, 486, "Busy Here", Some("b")));
    h.run_until(ms(31_000));
    assert_eq!(h.sent_at("SIP/2.0 486"), vec![0]);
    let ack = msg(&inv).to_bytes();
    let ack = String::from_utf8_lossy(&ack)
        .replace("INVITE", "ACK")
        .replace("\r\n", "\n");
    let ack = ack.replace(
        "To: Bob <sip:bob@biloxi.example.com>",
        "To: Bob <sip:bob@biloxi.example.com>;tag=b",
    );
    h.receive(&ack, "alice", TCP);
    assert_eq!(h.take_events(), vec![terminated(&key)]);
}

#[test]
fn a_2xx_moves_to_accepted_where_invites_are_absorbed_and_the_tu_may_resend() {
    let mut h = Harness::with_config(quiet());
    let inv = invite(BRANCH);
    let key = new_key(h.receive(&inv, "alice", UDP));
    let ok = response(&inv, 200, "OK", Some("b"));
    h.respond(&key, &ok);
    assert_eq!(h.state(&key), Some(TxState::Accepted));
    // INVITE retransmissions are absorbed and nothing is sent (the TU retransmits 2xx, §13.3.1.4).
    assert!(matches!(
        h.receive(&inv, "alice", UDP),
        Incoming::Absorbed { .. }
    ));
    h.run_until(ms(500));
    h.respond(&key, &ok);
    assert_eq!(h.sent_at("SIP/2.0 200"), vec![0, 500]);
    let busy = h
        .layer
        .send_response(h.now, &key, msg(&response(&inv, 486, "Busy", Some("b"))));
    assert_eq!(
        busy,
        Err(TransactionError::ResponseNotAllowed {
            state: TxState::Accepted,
            code: 486
        })
    );
    // The ACK for a 2xx has its own branch: not a transaction, straight to the TU.
    let ack = request(
        "ACK",
        "SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bKnew",
        "3848276298220188511@atlanta.example.com",
        1,
        Some("b"),
    );
    assert!(matches!(
        h.receive(&ack, "alice", UDP),
        Incoming::Ack { from: "alice", .. }
    ));
    // Timer L: 64·T1 after the 2xx.
    h.run_until(ms(31_999));
    assert_eq!(h.layer.len(), 1);
    h.run_until(ms(32_000));
    assert_eq!(h.take_events(), vec![terminated(&key)]);
}

#[test]
fn cancel_gets_its_own_transaction_and_names_the_invite() {
    let mut h = Harness::with_config(quiet());
    let inv = invite(BRANCH);
    let ikey = new_key(h.receive(&inv, "alice", UDP));
    let cancel = inv.replace("INVITE", "CANCEL");
    let Incoming::Cancel {
        invite: target,
        key,
        ..
    } = h.receive(&cancel, "alice", UDP)
    else {
        panic!("expected a CANCEL");
    };
    assert_eq!(target, Some(ikey.clone()));
    assert_ne!(key, ikey);
    // The TU answers both: 200 to the CANCEL, 487 to the INVITE.
    h.respond(&key, &response(&cancel, 200, "OK", Some("b")));
    h.respond(&ikey, &response(&inv, 487, "Request Terminated", Some("b")));
    assert_eq!(h.state(&key), Some(TxState::Completed));
    assert_eq!(h.state(&ikey), Some(TxState::Completed));
    // A retransmitted CANCEL is absorbed by its own transaction.
    assert!(matches!(h.receive(&cancel, "alice", UDP), Incoming::Absorbed { key: k } if k == key));

    // A CANCEL for an INVITE we never saw: no target (the TU answers 481).
    let stray = invite("z9hG4bKunknown").replace("INVITE", "CANCEL");
    assert!(matches!(
        h.receive(&stray, "alice", UDP),
        Incoming::Cancel { invite: None, .. }
    ));
}

fn rfc2543_invite(via: &str, call_id: &str) -> String {
    request("INVITE", via, call_id, 1, None)
}

#[test]
fn rfc2543_requests_match_by_uri_tags_call_id_cseq_and_top_via() {
    let mut h = Harness::with_config(quiet());
    let via = "SIP/2.0/UDP old.example.com:5060";
    let inv = rfc2543_invite(via, "2543-call@old.example.com");
    let key = new_key(h.receive(&inv, "old", UDP));
    assert_eq!(key.branch(), None);
    assert!(matches!(
        h.receive(&inv, "old", UDP),
        Incoming::Absorbed { .. }
    ));
    // Another CSeq or Call-ID is another transaction.
    let next = request("INVITE", via, "2543-call@old.example.com", 2, None);
    assert!(matches!(
        h.receive(&next, "old", UDP),
        Incoming::Request { .. }
    ));
    let other = rfc2543_invite(via, "other@old.example.com");
    assert!(matches!(
        h.receive(&other, "old", UDP),
        Incoming::Request { .. }
    ));

    let cancel = inv.replace("INVITE", "CANCEL");
    let matched = h.receive(&cancel, "old", UDP);
    assert!(matches!(matched, Incoming::Cancel { invite: Some(k), .. } if k == key));

    h.respond(&key, &response(&inv, 486, "Busy Here", Some("t486")));
    // An ACK whose To tag is not the one of our response does not match.
    let wrong = request("ACK", via, "2543-call@old.example.com", 1, Some("other"));
    assert!(matches!(
        h.receive(&wrong, "old", UDP),
        Incoming::Ack { .. }
    ));
    assert_eq!(h.state(&key), Some(TxState::Completed));
    let ack = request("ACK", via, "2543-call@old.example.com", 1, Some("t486"));
    assert!(matches!(h.receive(&ack, "old", UDP), Incoming::Absorbed { key: k } if k == key));
    assert_eq!(h.state(&key), Some(TxState::Confirmed));
}

#[test]
fn bare_magic_cookie_branch_falls_back_to_rfc2543_matching() {
    // RFC 4475 §3.2.1 badbranch: "branch=z9hG4bK" identifies nothing, so two different requests from
    // the same sent-by with it must not be taken for retransmissions of one another.
    let mut h = Harness::with_config(quiet());
    let via = "SIP/2.0/UDP 192.0.2.15;branch=z9hG4bK";
    let one = request("OPTIONS", via, "sl3h8ly9tzb@example.net", 3, None);
    let two = request("OPTIONS", via, "differentcall@example.net", 3, None);
    let k1 = new_key(h.receive(&one, "p", UDP));
    let k2 = new_key(h.receive(&two, "p", UDP));
    assert_ne!(k1, k2);
    assert_eq!(k1.branch(), None);
    h.respond(&k1, &response(&one, 200, "OK", Some("x")));
    assert!(matches!(h.receive(&one, "p", UDP), Incoming::Absorbed { key } if key == k1));
    assert_eq!(h.sent_at("SIP/2.0 200"), vec![0, 0]);
}

#[test]
fn the_same_branch_from_another_sent_by_is_another_transaction() {
    let mut h = Harness::with_config(quiet());
    let a = options(BRANCH);
    let b = a.replace(
        "client.atlanta.example.com:5060",
        "client.atlanta.example.com:5070",
    );
    let ka = new_key(h.receive(&a, "a", UDP));
    let kb = new_key(h.receive(&b, "b", UDP));
    assert_ne!(ka, kb);
}

#[test]
fn server_limit_refuses_new_requests_with_the_message_handed_back() {
    let mut h = Harness::with_config(Config {
        max_server: 2,
        ..quiet()
    });
    let k1 = new_key(h.receive(&options("z9hG4bK1"), "p", TCP));
    new_key(h.receive(&options("z9hG4bK2"), "p", TCP));
    let third = h
        .layer
        .handle_incoming(h.now, msg(&options("z9hG4bK3")), "p", TCP);
    let rejected = third.expect_err("limit");
    assert_eq!(rejected.error, TransactionError::Full { limit: 2 });
    assert_eq!(rejected.from, "p");
    assert_eq!(
        rejected
            .msg
            .top_via()
            .ok()
            .and_then(|v| v.branch().map(str::to_owned))
            .as_deref(),
        Some("z9hG4bK3")
    );
    // Retransmissions of live transactions are still absorbed at the limit.
    assert!(matches!(
        h.receive(&options("z9hG4bK1"), "p", TCP),
        Incoming::Absorbed { .. }
    ));
    // Responses and ACKs for 2xx are not limited.
    let ack = request("ACK", "SIP/2.0/TCP x;branch=z9hG4bKack", "c", 1, Some("t"));
    assert!(matches!(h.receive(&ack, "p", TCP), Incoming::Ack { .. }));
    h.respond(&k1, &response(&options("z9hG4bK1"), 200, "OK", None));
    assert!(matches!(
        h.receive(&options("z9hG4bK3"), "p", TCP),
        Incoming::Request { .. }
    ));
}

#[test]
fn malformed_requests_and_wrong_keys_are_typed_errors() {
    let mut h = Harness::with_config(quiet());
    let no_cseq = options(BRANCH).replace("CSeq: 7 OPTIONS\n", "");
    let no_branch = no_cseq.replace(&format!(";branch={BRANCH}"), "");
    let r = h
        .layer
        .handle_incoming(h.now, msg(&no_branch), "p", UDP)
        .expect_err("no CSeq");
    assert_eq!(r.error, TransactionError::Malformed { header: "CSeq" });
    let no_via = options(BRANCH).replace("Via: ", "X-Via: ");
    let r = h
        .layer
        .handle_incoming(h.now, msg(&no_via), "p", UDP)
        .expect_err("no Via");
    assert_eq!(r.error, TransactionError::Malformed { header: "Via" });

    let req = options(BRANCH);
    let key = new_key(h.receive(&req, "p", UDP));
    let not_a_response = h.layer.send_response(h.now, &key, msg(&req));
    assert_eq!(not_a_response, Err(TransactionError::NotAResponse));
    let ckey = h.send_request(&options("z9hG4bKmine"), "q", UDP);
    let wrong = h
        .layer
        .send_response(h.now, &ckey, msg(&response(&req, 200, "OK", None)));
    assert_eq!(wrong, Err(TransactionError::WrongRole));
    h.respond(&key, &response(&req, 200, "OK", None));
    h.run_until(ms(40_000));
    let gone = h
        .layer
        .send_response(h.now, &key, msg(&response(&req, 200, "OK", None)));
    assert_eq!(gone, Err(TransactionError::UnknownTransaction));
}
