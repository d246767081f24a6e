//! PCP (RFC 6887) and NAT-PMP (RFC 6886) codecs: byte fixtures written
//! out by hand from the RFCs' diagrams (not with the codec), each request
//! check of RFC 6887 section 8.1 and the option rules of section 7.3,
//! emit/parse round trips, and garbage that must never panic.

use std::net::{Ipv4Addr, Ipv6Addr};

use cgnat_core::wire::natpmp;
use cgnat_core::wire::pcp::{self, Filter, MapData, Operation, Options, PeerData, Request, RequestError, Response, ResultCode};
use proptest::prelude::*;

/// A MAP request from 100.64.0.10 for TCP port 8080, suggesting external
/// port 8080 and no external address, lifetime 3600 s, nonce 1..=12, with
/// a PREFER_FAILURE option: RFC 6887 figures 2 (request header), 9 (MAP)
/// and 14 (PREFER_FAILURE), byte by byte.
const MAP_REQUEST: [u8; 64] = [
    // Version 2, R=0 opcode 1 (MAP), reserved.
    0x02, 0x01, 0x00, 0x00, //
    // Requested lifetime 3600.
    0x00, 0x00, 0x0e, 0x10, //
    // Client address ::ffff:100.64.0.10.
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 100, 64, 0, 10, //
    // Mapping nonce.
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, //
    // Protocol 6 (TCP), reserved.
    0x06, 0x00, 0x00, 0x00, //
    // Internal port 8080, suggested external port 8080.
    0x1f, 0x90, 0x1f, 0x90, //
    // Suggested external address: all zeros ("no preference").
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, //
    // Option PREFER_FAILURE (2), reserved, length 0.
    0x02, 0x00, 0x00, 0x00,
];

fn client() -> Ipv6Addr {
    pcp::mapped(Ipv4Addr::new(100, 64, 0, 10))
}

fn map_data() -> MapData {
    MapData {
        nonce: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
        protocol: 6,
        internal_port: 8080,
        external_port: 8080,
        external_addr: Ipv6Addr::UNSPECIFIED,
    }
}

#[test]
fn map_request_fixture_parses_field_by_field() {
    let r = Request::parse(&MAP_REQUEST).unwrap();
    assert_eq!(r.lifetime, 3600);
    assert_eq!(r.client, client());
    assert_eq!(pcp::unmapped(r.client), Some(Ipv4Addr::new(100, 64, 0, 10)));
    assert_eq!(r.op, Operation::Map(map_data()));
    assert!(r.options.prefer_failure);
    assert_eq!(r.options.third_party, None);
    assert!(r.options.filters.is_empty());
    // And the codec writes the same bytes back.
    let mut out = [0u8; 64];
    assert_eq!(r.emit(&mut out), Ok(64));
    assert_eq!(out, MAP_REQUEST);
}

/// RFC 6887 section 8.1: "If the received PCP request message is less than
/// two octets long, it is silently dropped." ... "If the R bit is set, the
/// message is silently dropped."
#[test]
fn short_requests_and_responses_are_dropped_silently() {
    assert_eq!(Request::parse(&[]), Err(RequestError::Drop));
    assert_eq!(Request::parse(&[2]), Err(RequestError::Drop));
    let mut response = MAP_REQUEST;
    response[1] |= 0x80;
    assert_eq!(Request::parse(&response), Err(RequestError::Drop));
}

/// Section 8.1: "If the first octet (version) is a version that is not
/// supported, a response is generated with the UNSUPP_VERSION result
/// code".
#[test]
fn other_versions_get_unsupp_version() {
    for v in [1u8, 3, 255] {
        let mut m = MAP_REQUEST;
        m[0] = v;
        assert_eq!(
            Request::parse(&m),
            Err(RequestError::Reply(ResultCode::UnsuppVersion)),
            "version {v}"
        );
    }
}

/// Section 8.1: "If the received PCP request message is shorter than 24
/// octets, is not a multiple of 4 octets, or is longer than 1100 octets,
/// the PCP server responds with a MALFORMED_REQUEST result code."
#[test]
fn bad_lengths_get_malformed_request() {
    let malformed = Err(RequestError::Reply(ResultCode::MalformedRequest));
    assert_eq!(Request::parse(&MAP_REQUEST[..20]), malformed);
    assert_eq!(Request::parse(&MAP_REQUEST[..26]), malformed);
    let mut long = vec![0u8; 1104];
    long[0] = 2;
    assert_eq!(Request::parse(&long), malformed);
    // MAP data cut short (a whole number of words, but not 36 octets).
    assert_eq!(Request::parse(&MAP_REQUEST[..48]), malformed);
}

/// Section 8.1 / 7.4: an opcode the server does not support is answered
/// with UNSUPP_OPCODE.
#[test]
fn unknown_opcodes_get_unsupp_opcode() {
    let mut m = [0u8; 24];
    m[0] = 2;
    for op in [3u8, 4, 127] {
        m[1] = op;
        assert_eq!(
            Request::parse(&m),
            Err(RequestError::Reply(ResultCode::UnsuppOpcode)),
            "opcode {op}"
        );
    }
    m[1] = pcp::opcode::ANNOUNCE;
    let a = Request::parse(&m).unwrap();
    assert_eq!(a.op, Operation::Announce);
}

/// A MAP request (without options) followed by `options`.
fn map_with(options: &[u8]) -> Vec<u8> {
    let mut m = MAP_REQUEST[..60].to_vec();
    m.extend_from_slice(options);
    m
}

/// Section 7.3: options with code 0-127 are mandatory to process; 128-255
/// optional: "If a PCP server receives ... an option it does not
/// understand", a mandatory one fails the request with UNSUPP_OPTION, an
/// optional one is ignored.
#[test]
fn unknown_options_mandatory_fail_optional_are_skipped() {
    let mandatory = map_with(&[0x7f, 0, 0, 4, 1, 2, 3, 4]);
    assert_eq!(Request::parse(&mandatory), Err(RequestError::Reply(ResultCode::UnsuppOption)));
    let optional = map_with(&[0x80, 0, 0, 1, 9, 0, 0, 0, 0x02, 0, 0, 0]);
    let r = Request::parse(&optional).unwrap();
    assert!(r.options.prefer_failure, "the option after the skipped one is read");
}

/// Section 7.3 and the option table of section 19.3: PREFER_FAILURE and
/// FILTER are valid for MAP only, THIRD_PARTY for MAP and PEER; a
/// mandatory option not valid for the opcode is not processed.
#[test]
fn options_outside_their_opcode_are_refused() {
    let peer = Request {
        lifetime: 60,
        client: client(),
        op: Operation::Peer(PeerData {
            map: map_data(),
            remote_port: 443,
            remote_addr: pcp::mapped(Ipv4Addr::new(198, 51, 100, 7)),
        }),
        options: Options::default(),
    };
    let mut buf = vec![0u8; peer.len()];
    peer.emit(&mut buf).unwrap();
    buf.extend_from_slice(&[0x02, 0, 0, 0]);
    assert_eq!(Request::parse(&buf), Err(RequestError::Reply(ResultCode::UnsuppOption)));
}

/// Section 7.3: an option that runs past the message, a known option of
/// the wrong length, and THIRD_PARTY or PREFER_FAILURE more often than
/// "Maximum Occurrences: 1" (section 13) are MALFORMED_OPTION; so is a
/// FILTER prefix longer than 128 bits (section 13.3).
#[test]
fn malformed_options_get_malformed_option() {
    let bad = Err(RequestError::Reply(ResultCode::MalformedOption));
    // Length 8 with 4 octets left.
    assert_eq!(Request::parse(&map_with(&[0x02, 0, 0, 8, 0, 0, 0, 0])), bad);
    // PREFER_FAILURE with data.
    assert_eq!(Request::parse(&map_with(&[0x02, 0, 0, 4, 0, 0, 0, 0])), bad);
    // PREFER_FAILURE twice.
    assert_eq!(Request::parse(&map_with(&[0x02, 0, 0, 0, 0x02, 0, 0, 0])), bad);
    // THIRD_PARTY twice.
    let mut two = Vec::new();
    for _ in 0..2 {
        two.extend_from_slice(&[0x01, 0, 0, 16]);
        two.extend_from_slice(&client().octets());
    }
    assert_eq!(Request::parse(&map_with(&two)), bad);
    // FILTER with prefix length 129.
    let mut filter = vec![0x03, 0, 0, 20, 0, 129, 0, 80];
    filter.extend_from_slice(&client().octets());
    assert_eq!(Request::parse(&map_with(&filter)), bad);
    // FILTER of 16 octets.
    assert_eq!(
        Request::parse(&map_with(
            &filter[..20]
                .iter()
                .enumerate()
                .map(|(i, b)| if i == 3 { 16 } else { *b })
                .collect::<Vec<_>>()
        )),
        bad
    );
}

/// Section 13.3: a FILTER admits remote peers in its prefix, from its port
/// unless that is 0; prefix length 0 admits every peer.
#[test]
fn filters_admit_their_prefix_and_port() {
    let net = pcp::mapped(Ipv4Addr::new(198, 51, 100, 0));
    let f = Filter {
        prefix_len: 96 + 24,
        remote_port: 0,
        remote_addr: net,
    };
    assert!(f.admits(pcp::mapped(Ipv4Addr::new(198, 51, 100, 200)), 1));
    assert!(!f.admits(pcp::mapped(Ipv4Addr::new(198, 51, 101, 1)), 1));
    let one = Filter {
        prefix_len: 128,
        remote_port: 443,
        remote_addr: pcp::mapped(Ipv4Addr::new(203, 0, 113, 9)),
    };
    assert!(one.admits(pcp::mapped(Ipv4Addr::new(203, 0, 113, 9)), 443));
    assert!(!one.admits(pcp::mapped(Ipv4Addr::new(203, 0, 113, 9)), 444));
    let all = Filter {
        prefix_len: 0,
        remote_port: 0,
        remote_addr: Ipv6Addr::UNSPECIFIED,
    };
    assert!(all.admits(pcp::mapped(Ipv4Addr::new(8, 8, 8, 8)), 53));
}

/// RFC 6887 section 7.2 response header, written out by hand: version 2,
/// R=1 opcode MAP, result NO_RESOURCES (8), lifetime 30, epoch 1234.
#[test]
fn response_header_fixture() {
    let r = Response {
        result: ResultCode::NoResources,
        lifetime: 30,
        epoch: 1234,
        op: Operation::Map(map_data()),
        options: Options::default(),
    };
    let mut out = [0xAAu8; 60];
    assert_eq!(r.emit(&mut out), Ok(60));
    let header: [u8; 24] = [
        0x02, 0x81, 0x00, 0x08, 0, 0, 0, 30, 0, 0, 0x04, 0xd2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    assert_eq!(out[..24], header);
    assert_eq!(out[24..60], MAP_REQUEST[24..60]);
    assert!(ResultCode::NoResources.is_short_lifetime());
    assert_eq!(Response::parse(&out), Ok(r));
}

/// RFC 6886 section 3.3: natpmpc's "map UDP 8080 -> 8080 for 7200 s"
/// request, and section 3.2's external address request, as bytes.
#[test]
fn natpmp_fixtures() {
    let map = [0x00, 0x01, 0x00, 0x00, 0x1f, 0x90, 0x1f, 0x90, 0x00, 0x00, 0x1c, 0x20];
    assert_eq!(
        natpmp::Request::parse(&map),
        Ok(natpmp::Request::Map(natpmp::MapRequest {
            protocol: natpmp::MapProtocol::Udp,
            internal_port: 8080,
            suggested_port: 8080,
            lifetime: 7200,
        }))
    );
    assert_eq!(natpmp::Request::parse(&[0, 0]), Ok(natpmp::Request::ExternalAddress));
    // Section 3.5: a response (opcode >= 128) is ignored; an unknown
    // opcode below 128 gets "Unsupported opcode" (5); another version
    // "Unsupported Version" (1).
    assert_eq!(natpmp::Request::parse(&[0, 128]), Err(natpmp::RequestError::Drop));
    assert_eq!(
        natpmp::Request::parse(&[0, 3]),
        Err(natpmp::RequestError::Reply {
            opcode: 3,
            result: natpmp::ResultCode::UnsupportedOpcode
        })
    );
    assert_eq!(
        natpmp::Request::parse(&[1, 1]),
        Err(natpmp::RequestError::Reply {
            opcode: 1,
            result: natpmp::ResultCode::UnsupportedVersion
        })
    );
    assert_eq!(natpmp::Request::parse(&map[..11]), Err(natpmp::RequestError::Drop));
    let addr = natpmp::Response::ExternalAddress {
        result: natpmp::ResultCode::Success,
        epoch: 77,
        addr: Ipv4Addr::new(203, 0, 113, 5),
    };
    let mut out = [0u8; 12];
    assert_eq!(addr.emit(&mut out), Ok(12));
    assert_eq!(out, [0, 128, 0, 0, 0, 0, 0, 77, 203, 0, 113, 5]);
}

fn arb_addr() -> impl Strategy<Value = Ipv6Addr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| pcp::mapped(Ipv4Addr::from(b))),
        any::<[u8; 16]>().prop_map(Ipv6Addr::from),
    ]
}

fn arb_map() -> impl Strategy<Value = MapData> {
    (any::<[u8; 12]>(), any::<u8>(), any::<u16>(), any::<u16>(), arb_addr()).prop_map(
        |(nonce, protocol, internal_port, external_port, external_addr)| MapData {
            nonce,
            protocol,
            internal_port,
            external_port,
            external_addr,
        },
    )
}

fn arb_op() -> impl Strategy<Value = Operation> {
    prop_oneof![
        Just(Operation::Announce),
        arb_map().prop_map(Operation::Map),
        (arb_map(), any::<u16>(), arb_addr()).prop_map(|(map, remote_port, remote_addr)| Operation::Peer(PeerData {
            map,
            remote_port,
            remote_addr
        })),
    ]
}

/// Options valid for `op` (so that they parse back).
fn arb_options(op: &Operation) -> BoxedStrategy<Options> {
    let filter = (0u8..=128, any::<u16>(), arb_addr()).prop_map(|(prefix_len, remote_port, remote_addr)| Filter {
        prefix_len,
        remote_port,
        remote_addr,
    });
    match op {
        Operation::Announce => Just(Options::default()).boxed(),
        Operation::Peer(_) => proptest::option::of(arb_addr())
            .prop_map(|third_party| Options {
                third_party,
                ..Options::default()
            })
            .boxed(),
        Operation::Map(_) => (
            proptest::option::of(arb_addr()),
            any::<bool>(),
            proptest::collection::vec(filter, 0..8),
        )
            .prop_map(|(third_party, prefer_failure, filters)| Options {
                third_party,
                prefer_failure,
                filters,
            })
            .boxed(),
    }
}

fn arb_request() -> impl Strategy<Value = Request> {
    (any::<u32>(), arb_addr(), arb_op())
        .prop_flat_map(|(lifetime, client, op)| {
            let opts = arb_options(&op);
            (Just(lifetime), Just(client), Just(op), opts)
        })
        .prop_map(|(lifetime, client, op, options)| Request {
            lifetime,
            client,
            op,
            options,
        })
}

proptest! {
    #[test]
    fn requests_round_trip(r in arb_request()) {
        let mut buf = vec![0u8; pcp::MAX_LEN];
        let n = r.emit(&mut buf).unwrap();
        prop_assert_eq!(n, r.len());
        prop_assert_eq!(n % 4, 0);
        prop_assert_eq!(Request::parse(&buf[..n]), Ok(r));
    }

    #[test]
    fn responses_round_trip(r in arb_request(), code in 0u8..=13, lifetime: u32, epoch: u32) {
        let resp = Response { result: ResultCode::from_u8(code).unwrap(), lifetime, epoch, op: r.op, options: r.options };
        let mut buf = vec![0u8; pcp::MAX_LEN];
        let n = resp.emit(&mut buf).unwrap();
        prop_assert_eq!(Response::parse(&buf[..n]), Ok(resp));
    }

    /// Garbage of any length never panics either parser, and anything the
    /// request parser accepts emits back to bytes it accepts again.
    #[test]
    fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..1200), pcp_version: bool) {
        let mut data = data;
        if pcp_version && data.len() > 1 { data[0] = 2; data[1] &= 0x7f; }
        if let Ok(r) = Request::parse(&data) {
            let mut buf = vec![0u8; r.len()];
            r.emit(&mut buf).unwrap();
            prop_assert_eq!(Request::parse(&buf), Ok(r));
        }
        let _ = Response::parse(&data);
        let _ = natpmp::Request::parse(&data);
        let _ = natpmp::Response::parse(&data);
    }

    #[test]
    fn natpmp_round_trips(udp: bool, internal_port: u16, suggested_port: u16, lifetime: u32, epoch: u32, addr: [u8; 4], code in 0u16..=5, bad_op in 3u8..128) {
        let protocol = if udp { natpmp::MapProtocol::Udp } else { natpmp::MapProtocol::Tcp };
        let result = natpmp::ResultCode::from_u16(code).unwrap();
        let mut buf = [0u8; 16];
        for req in [natpmp::Request::ExternalAddress, natpmp::Request::Map(natpmp::MapRequest { protocol, internal_port, suggested_port, lifetime })] {
            let n = req.emit(&mut buf).unwrap();
            prop_assert_eq!(natpmp::Request::parse(&buf[..n]), Ok(req));
        }
        for resp in [
            natpmp::Response::ExternalAddress { result, epoch, addr: Ipv4Addr::from(addr) },
            natpmp::Response::Map { protocol, result, epoch, internal_port, external_port: suggested_port, lifetime },
            natpmp::Response::Error { opcode: bad_op, result, epoch },
        ] {
            let n = resp.emit(&mut buf).unwrap();
            prop_assert_eq!(natpmp::Response::parse(&buf[..n]), Ok(resp));
        }
    }
}
