//! NAT-PMP requests served by the PCP server (RFC 6887 Appendix A: a
//! version 0 request on port 5351 is NAT-PMP, RFC 6886). Its mappings are
//! the server's mappings, with an all-zero nonce (NAT-PMP has none), so a
//! PCP client cannot take over a NAT-PMP mapping nor the other way round.

use core::net::Ipv4Addr;

use super::{Ask, Entry, PcpKind, PcpServer, Reply};
use crate::event::EventSink;
use crate::flow::Protocol;
use crate::time::Instant;
use crate::translate::Worker;
use crate::wire::natpmp::{MapProtocol, MapRequest, Request, RequestError, Response, ResultCode};
use crate::wire::pcp;

/// The nonce NAT-PMP mappings are kept under.
const NATPMP_NONCE: [u8; 12] = [0; 12];

impl PcpServer {
    /// Handles a NAT-PMP datagram from `src` (RFC 6886 sections 3.2, 3.3
    /// and 3.5).
    pub(super) fn handle_natpmp<E: EventSink>(
        &mut self,
        w: &mut Worker<E>,
        src: Ipv4Addr,
        data: &[u8],
        now: Instant,
        out: &mut [u8],
    ) -> Reply {
        let epoch = self.epoch(now);
        let (resp, block) = match Request::parse(data) {
            Err(RequestError::Drop) => return Reply::None,
            Err(RequestError::Reply { opcode, result }) => (Response::Error { opcode, result, epoch }, None),
            Ok(Request::ExternalAddress) => {
                let resp = match w.pcp_external_address(src) {
                    Some(addr) => Response::ExternalAddress {
                        result: ResultCode::Success,
                        epoch,
                        addr,
                    },
                    None => Response::ExternalAddress {
                        result: ResultCode::NotAuthorized,
                        epoch,
                        addr: Ipv4Addr::UNSPECIFIED,
                    },
                };
                (resp, None)
            }
            Ok(Request::Map(map)) => self.natpmp_map(w, src, map, now),
        };
        let Ok(len) = resp.emit(out) else {
            return Reply::None;
        };
        match block {
            Some(block) => Reply::AfterBlock { len, block },
            None => Reply::Send(len),
        }
    }

    /// A NAT-PMP mapping request `map` (section 3.3): lifetime 0 deletes
    /// the mapping of its internal port, or with port 0 every NAT-PMP
    /// mapping of the client for the protocol (section 3.4).
    fn natpmp_map<E: EventSink>(&mut self, w: &mut Worker<E>, src: Ipv4Addr, map: MapRequest, now: Instant) -> (Response, Option<u32>) {
        let MapRequest {
            protocol,
            internal_port,
            suggested_port,
            lifetime,
        } = map;
        let epoch = self.epoch(now);
        let proto = match protocol {
            MapProtocol::Udp => Protocol::Udp,
            MapProtocol::Tcp => Protocol::Tcp,
        };
        let answer = |result, external_port, lifetime| Response::Map {
            protocol,
            result,
            epoch,
            internal_port,
            external_port,
            lifetime,
        };
        let inside = u32::from(src);
        if lifetime == 0 {
            let keys: Vec<Entry> = self
                .entries
                .iter()
                .filter(|(_, m)| {
                    m.protocol == proto
                        && m.inside == src
                        && (internal_port == 0 || m.inside_port == internal_port)
                        && m.kind == PcpKind::NatPmp
                })
                .map(|(e, _)| *e)
                .collect();
            for k in keys {
                self.remove(w, k, crate::event::Reason::PcpRequest, now);
            }
            return (answer(ResultCode::Success, 0, 0), None);
        }
        if internal_port == 0 {
            return (answer(ResultCode::NotAuthorized, 0, 0), None);
        }
        let ask = Ask {
            entry: Entry::Map((proto, inside, internal_port)),
            nonce: NATPMP_NONCE,
            lifetime,
            suggested: suggested_port,
            prefer: None,
            kind: PcpKind::NatPmp,
            filters: None,
        };
        match self.map_endpoint(w, ask, now) {
            Ok((lifetime, g)) => (answer(ResultCode::Success, g.public_port, lifetime), g.pending_block),
            Err(code) => {
                let result = match code {
                    pcp::ResultCode::NoResources | pcp::ResultCode::UserExQuota => ResultCode::OutOfResources,
                    _ => ResultCode::NotAuthorized,
                };
                (answer(result, 0, 0), None)
            }
        }
    }
}
