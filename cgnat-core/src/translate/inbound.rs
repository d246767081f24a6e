//! Outside → inside: (public address, port) → block → subscriber, and the
//! port's mapping record → inside port, with no hashing; then the session
//! (filtering, RFC 4787 REQ-8).

use super::{Verdict, Worker};
use crate::config::Filtering;
use crate::counters::{Counter, DropReason};
use crate::event::{EventSink, TableId};
use crate::flow::{Protocol, SessionKey};
use crate::pool::BlockState;
use crate::table::session::{SessionInsert, SessionValue};

impl<E: EventSink> Worker<E> {
    /// The subscriber endpoint a public (pool index, port) maps to, if a
    /// mapping holds it. No hashing.
    #[inline]
    pub(crate) fn resolve_public(&self, protocol: Protocol, pool_index: u32, port: u16) -> Option<(u32, u16)> {
        let nat = &*self.nat;
        let block = nat.pool.block_of(pool_index, port)?;
        let inside = match nat.pool.owner_of(block)? {
            (BlockState::Allocated, a) => a,
            _ => match &nat.deterministic {
                Some(d) => d.reverse_index(pool_index, port)?,
                None => nat.static_owner(protocol, pool_index, port)?,
            },
        };
        let (inside_port, _) = nat.pool.port(protocol, block, port).mapping()?;
        Some((inside, inside_port))
    }

    /// The inside endpoint of an inbound packet's flow, creating the
    /// session if the filtering behaviour lets it in.
    #[inline]
    pub(crate) fn inbound(
        &mut self,
        protocol: Protocol,
        pool_index: u32,
        port: u16,
        remote: u32,
        remote_port: u16,
        flags: u8,
    ) -> Result<(u32, u16), Verdict> {
        let Some((inside, inside_port)) = self.resolve_public(protocol, pool_index, port) else {
            return Err(Verdict::Drop(DropReason::NoMapping));
        };
        let key = SessionKey {
            protocol,
            inside_addr: inside,
            inside_port,
            remote_addr: remote,
            remote_port,
        };
        if let Some(r) = self.nat.sessions.find(&key) {
            if !r.value.dying() {
                self.touch(r, protocol, false, flags);
                return Ok((inside, inside_port));
            }
        }
        // RFC 4787 REQ-8: endpoint-independent filtering lets any remote in
        // through an existing mapping; address-dependent only remotes the
        // subscriber has sent to; address-and-port-dependent only the exact
        // remote endpoint (which would have had a session).
        let allowed = match self.nat.config.filtering {
            Filtering::EndpointIndependent => true,
            Filtering::AddressDependent => self.nat.sessions.any_to_remote_addr(&key),
            Filtering::AddressAndPortDependent => false,
        };
        if !allowed {
            return Err(Verdict::Drop(DropReason::Filtered));
        }
        self.create_inbound(&key, pool_index, port, flags)
    }

    #[cold]
    fn create_inbound(&mut self, key: &SessionKey, pool_index: u32, port: u16, flags: u8) -> Result<(u32, u16), Verdict> {
        let nat = self.nat.clone();
        let Some(sub) = nat.subscribers.find(key.inside_addr) else {
            return Err(Verdict::Drop(DropReason::NoMapping));
        };
        if nat
            .subscribers
            .reserve_session(sub.index, nat.runtime.max_sessions_per_subscriber())
            .is_err()
        {
            return Err(Verdict::Drop(DropReason::SessionLimit));
        }
        let block = nat.pool.block_of(pool_index, port).expect("resolved above");
        if !nat.pool.port(key.protocol, block, port).acquire(key.inside_port) {
            nat.subscribers.release_session(sub.index);
            return Err(Verdict::Drop(DropReason::SessionRace));
        }
        let value = self.new_value(port, key.protocol, false, flags, SessionValue::INBOUND);
        match nat.sessions.insert(key, pool_index, value) {
            SessionInsert::Inserted(_) => {
                self.counters.incr(Counter::SessionsCreated);
                Ok((key.inside_addr, key.inside_port))
            }
            other => {
                crate::sweeper::release_mapping_ref(&nat, &key.mapping(), pool_index, port);
                nat.subscribers.release_session(sub.index);
                match other {
                    SessionInsert::Exists(_) => Ok((key.inside_addr, key.inside_port)),
                    SessionInsert::Race => Err(Verdict::Drop(DropReason::SessionRace)),
                    _ => {
                        self.table_full(TableId::Sessions, key.inside_addr, key.protocol);
                        Err(Verdict::Drop(DropReason::SessionTableFull))
                    }
                }
            }
        }
    }
}
