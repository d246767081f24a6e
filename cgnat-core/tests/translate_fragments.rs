//! Fragments (RFC 4787 REQ-14, RFC 1858): in-order and out-of-order
//! fragments are translated consistently, and the translated fragments
//! reassemble into a datagram whose transport checksum verifies.

mod common;

use cgnat_core::frag::FragmentKey;
use cgnat_core::{Counter, DropReason, Side, Verdict};
use common::*;
use etherparse::Ipv4Header;

/// Reassembles fragments (any order) into one datagram (etherparse header).
fn reassemble(frags: &[Vec<u8>]) -> Vec<u8> {
    let mut parts: Vec<(usize, Vec<u8>, Ipv4Header)> = frags
        .iter()
        .map(|f| {
            let (h, rest) = Ipv4Header::from_slice(f).unwrap();
            let data = rest[..h.total_len as usize - h.header_len()].to_vec();
            (h.fragment_offset.value() as usize * 8, data, h)
        })
        .collect();
    parts.sort_by_key(|p| p.0);
    let mut data = Vec::new();
    for (off, d, _) in &parts {
        assert_eq!(*off, data.len(), "fragments leave no hole and do not overlap");
        data.extend_from_slice(d);
    }
    assert!(!parts.last().unwrap().2.more_fragments, "last fragment has MF clear");
    let mut h = parts[0].2.clone();
    h.more_fragments = false;
    h.fragment_offset = Default::default();
    h.total_len = (h.header_len() + data.len()) as u16;
    h.header_checksum = h.calc_header_checksum();
    let mut v = h.to_bytes().to_vec();
    v.extend_from_slice(&data);
    v
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + 3) as u8).collect()
}

/// Processes every fragment, expecting Forward(to); returns the translated
/// fragments (each verified by etherparse) in the order given.
fn forward_all<E: cgnat_core::EventSink>(w: &mut cgnat_core::Worker<E>, from: Side, frags: &[Vec<u8>], to: Side) -> Vec<Vec<u8>> {
    frags
        .iter()
        .map(|f| {
            let mut f = f.clone();
            expect_forward(w, from, &mut f, at(0), to);
            f
        })
        .collect()
}

//= https://www.rfc-editor.org/rfc/rfc4787#section-11
//# REQ-14: A NAT MUST support receiving in-order and out-of-order
//# fragments, so it MUST have "Received Fragment Out of Order" behavior.
#[test]
fn rfc4787_req14_in_order_udp_fragments_translated_consistently() {
    let nat = nat("");
    let mut w = worker(&nat);
    let data = payload(100);
    let frags = fragments(&udp(SUB_A, 5000, SERVER, 53, &data), &[40, 80]);
    assert_eq!(frags.len(), 3);
    let t = forward_all(&mut w, Side::Inside, &frags, Side::Outside);
    let views: Vec<View> = t.iter().map(|f| parse(f)).collect();
    let public = views[0].src;
    assert!(nat.pool().index_of(u32::from(public)).is_some());
    for v in &views {
        assert_eq!((v.src, v.dst, v.ttl), (public, SERVER, 63), "every fragment rewritten alike");
    }
    assert_eq!([views[0].frag_offset, views[1].frag_offset, views[2].frag_offset], [0, 40, 80]);
    let whole = parse(&reassemble(&t));
    assert_eq!((whole.src, whole.dst, whole.dport), (public, SERVER, 53));
    assert_eq!(whole.payload, data, "reassembled UDP datagram verifies (checksum checked)");
    // The reply maps back to the subscriber, and the mapping is the one
    // an unfragmented packet of the flow uses.
    let o = out(&mut w, udp(SUB_A, 5000, SERVER, 53, b"small"), at(1));
    assert_eq!((o.src, o.sport), (whole.src, whole.sport));
    assert_eq!(w.counters().get(Counter::FragmentsTranslated), 2);
}

//= https://www.rfc-editor.org/rfc/rfc4787#section-11
//# REQ-14: A NAT MUST support receiving in-order and out-of-order
//# fragments
#[test]
fn rfc4787_req14_out_of_order_fragments_held_then_released() {
    let nat = nat("");
    let mut w = worker(&nat);
    let data = payload(300);
    let frags = fragments(&udp(SUB_A, 5000, SERVER, 53, &data), &[104, 208]);
    let ident = parse(&frags[0]).ident;
    let key = FragmentKey {
        src: u32::from(SUB_A),
        dst: u32::from(SERVER),
        protocol: 17,
        ident,
        from_inside: true,
    };
    let mut held = Vec::new();
    for i in [2, 1] {
        let mut f = frags[i].clone();
        assert_eq!(
            w.process(Side::Inside, &mut f, at(0)),
            Verdict::Hold,
            "fragment {i} before the first"
        );
        assert_eq!(f, frags[i], "a held fragment is untouched");
        assert_eq!(w.held_fragment_key(), key);
        held.push(f);
    }
    assert_eq!(w.take_resolved_fragment(), None, "nothing resolved yet");
    let mut first = frags[0].clone();
    assert_eq!(w.process(Side::Inside, &mut first, at(0)), Verdict::Forward(Side::Outside));
    assert_eq!(w.take_resolved_fragment(), Some(key));
    assert_eq!(w.take_resolved_fragment(), None, "reported once");
    let mut out_frags = vec![first];
    for mut f in held {
        assert_eq!(w.process(Side::Inside, &mut f, at(0)), Verdict::Forward(Side::Outside));
        out_frags.push(f);
    }
    let whole = parse(&reassemble(&out_frags));
    assert_eq!(whole.payload, data);
    assert_eq!(whole.dport, 53);
    assert_eq!(w.counters().get(Counter::FragmentsHeld), 2);
}

/// With the data plane's stash in the loop, as cgnat-dpdk runs it.
#[test]
fn rfc4787_req14_out_of_order_with_fragment_stash() {
    let nat = nat("");
    let mut w = worker(&nat);
    let mut stash = cgnat_core::frag::FragmentStash::new(8, 2);
    let frags = fragments(&udp(SUB_B, 6000, SERVER2, 443, &payload(64)), &[16, 32, 48]);
    let mut sent = Vec::new();
    for i in [3, 1, 0, 2] {
        let mut f = frags[i].clone();
        match w.process(Side::Inside, &mut f, at(0)) {
            Verdict::Hold => stash.hold(w.held_fragment_key(), f, at(0)).unwrap(),
            Verdict::Forward(Side::Outside) => {
                sent.push(f);
                if let Some(k) = w.take_resolved_fragment() {
                    let mut again = Vec::new();
                    stash.release(&k, |f| again.push(f));
                    for mut f in again {
                        assert_eq!(w.process(Side::Inside, &mut f, at(0)), Verdict::Forward(Side::Outside));
                        sent.push(f);
                    }
                }
            }
            v => panic!("{v:?}"),
        }
    }
    assert!(stash.is_empty());
    assert_eq!(sent.len(), 4);
    assert_eq!(parse(&reassemble(&sent)).payload, payload(64));
}

/// Inbound fragments (a server's fragmented reply), in and out of order.
#[test]
fn rfc4787_req14_inbound_fragments() {
    let nat = nat("");
    let mut w = worker(&nat);
    let o = out(&mut w, udp(SUB_A, 5000, SERVER, 53, b"q"), at(0));
    let data = payload(1200);
    let mut reply = udp(SERVER, 53, o.src, o.sport, &data);
    edit_ip(&mut reply, |h| h.identification = 0x4242);
    let frags = fragments(&reply, &[400, 800]);
    let t = forward_all(&mut w, Side::Outside, &frags, Side::Inside);
    for f in &t {
        let v = parse(f);
        assert_eq!((v.src, v.dst), (SERVER, SUB_A));
    }
    let whole = parse(&reassemble(&t));
    assert_eq!((whole.dst, whole.dport, whole.sport), (SUB_A, 5000, 53));
    assert_eq!(whole.payload, data);
    // Out of order: last, first, middle.
    let mut reply2 = udp(SERVER, 53, o.src, o.sport, &data);
    edit_ip(&mut reply2, |h| h.identification = 0x4343);
    let frags = fragments(&reply2, &[400, 800]);
    let mut last = frags[2].clone();
    assert_eq!(w.process(Side::Outside, &mut last, at(0)), Verdict::Hold);
    assert!(!w.held_fragment_key().from_inside);
    let mut rest = forward_all(&mut w, Side::Outside, &frags[..2], Side::Inside);
    assert_eq!(w.take_resolved_fragment().map(|k| k.ident), Some(0x4343));
    assert_eq!(w.process(Side::Outside, &mut last, at(0)), Verdict::Forward(Side::Inside));
    rest.push(last);
    assert_eq!(parse(&reassemble(&rest)).payload, data);
}

/// A fragmented ICMP echo (a big ping): the identifier in the first
/// fragment is translated and the ICMP checksum over the reassembled
/// message still verifies.
#[test]
fn fragmented_echo_request_and_reply() {
    let nat = nat("");
    let mut w = worker(&nat);
    let data = payload(2000);
    let frags = fragments(&echo_request(SUB_A, SERVER, 0x77, 1, &data), &[1000]);
    let t = forward_all(&mut w, Side::Inside, &frags, Side::Outside);
    let req = parse(&reassemble(&t));
    assert_eq!((req.icmp_type, req.payload.len()), (8, 2000));
    let frags = fragments(&echo_reply(SERVER, req.src, req.sport, 1, &data), &[1000]);
    let t = forward_all(&mut w, Side::Outside, &frags, Side::Inside);
    let rep = parse(&reassemble(&t));
    assert_eq!((rep.dst, rep.sport, rep.payload), (SUB_A, 0x77, data));
}

/// Hairpinned fragments reach the other subscriber.
#[test]
fn hairpinned_fragments() {
    let nat = nat("");
    let mut w = worker(&nat);
    let b = out(&mut w, udp(SUB_B, 2222, SERVER, 1, b""), at(0));
    let frags = fragments(&udp(SUB_A, 1111, b.src, b.sport, &payload(500)), &[200]);
    let t = forward_all(&mut w, Side::Inside, &frags, Side::Inside);
    let whole = parse(&reassemble(&t));
    assert_eq!((whole.dst, whole.dport), (SUB_B, 2222));
    assert!(nat.pool().index_of(u32::from(whole.src)).is_some());
    assert_eq!(whole.payload, payload(500));
}

//= https://www.rfc-editor.org/rfc/rfc1858#section-3
//# the first fragment (...) too small to contain the transport header
//# (...) if FO=1 and PROTOCOL=TCP, then drop packet
#[test]
fn rfc1858_tiny_fragments_are_dropped() {
    let nat = nat("");
    let mut w = worker(&nat);
    // UDP first fragment without a full UDP header (0 bytes of data).
    let u = fragments(&udp(SUB_A, 5000, SERVER, 53, &payload(40)), &[0]);
    assert_eq!(verdict(&mut w, Side::Inside, &u[0], at(0)), Verdict::Drop(DropReason::TinyFragment));
    // TCP first fragment with 16 of the 20 header bytes.
    let t = fragments(&tcp(SUB_A, 40_000, SERVER, 80, ACK, &payload(64)), &[16]);
    assert_eq!(verdict(&mut w, Side::Inside, &t[0], at(0)), Verdict::Drop(DropReason::TinyFragment));
    // TCP fragment at offset 8 (could rewrite the flags of the first).
    let t8 = fragments(&tcp(SUB_A, 40_000, SERVER, 80, ACK, &payload(64)), &[8]);
    assert_eq!(
        verdict(&mut w, Side::Inside, &t8[1], at(0)),
        Verdict::Drop(DropReason::TinyFragment)
    );
    assert_eq!(w.counters().dropped(DropReason::TinyFragment), 3);
    assert_eq!(nat.sessions().len(), 0, "no session for a tiny fragment");
    // From the outside too.
    let o = out(&mut w, udp(SUB_A, 5000, SERVER, 53, b""), at(0));
    let r = fragments(&udp(SERVER, 53, o.src, o.sport, &payload(40)), &[0]);
    assert_eq!(
        verdict(&mut w, Side::Outside, &r[0], at(0)),
        Verdict::Drop(DropReason::TinyFragment)
    );
}

/// The fragment record lives `fragments.timeout` seconds: a later fragment
/// after that is no longer translated (held, to be dropped by the stash).
#[test]
fn fragment_records_expire() {
    let nat = nat("");
    let mut w = worker(&nat);
    let frags = fragments(&udp(SUB_A, 5000, SERVER, 53, &payload(100)), &[48]);
    let mut f0 = frags[0].clone();
    assert_eq!(w.process(Side::Inside, &mut f0, at(0)), Verdict::Forward(Side::Outside));
    let mut f1 = frags[1].clone();
    assert_eq!(w.process(Side::Inside, &mut f1, at(3)), Verdict::Hold);
    // Fragments of another datagram (other identification) are not
    // rewritten with this one's record.
    let mut other = frags[1].clone();
    edit_ip(&mut other, |h| h.identification ^= 1);
    assert_eq!(w.process(Side::Inside, &mut other, at(0)), Verdict::Hold);
}
