//! Outside → inside: (public address, port) → block → subscriber, and the
//! port's mapping record → inside port, with no hashing; then the session
//! (filtering, RFC 4787 REQ-8). Sessions created by inbound packets have
//! their own budget per subscriber and per mapping (`nat.inbound`), so a
//! spray at a mapping never takes the subscriber's own sessions.

use super::prepared::SessionHint;
use super::{Verdict, Worker};
use crate::config::Filtering;
use crate::counters::{Counter, DropReason};
use crate::event::{EventSink, TableId};
use crate::flow::{Protocol, SessionKey};
use crate::pcp::PeerVerdict;
use crate::pool::{BlockState, JoinError};
use crate::table::session::{SessionInsert, SessionValue};
use crate::table::subscriber::LimitError;

impl<E: EventSink> Worker<E> {
    /// The subscriber endpoint a public (pool index, port) maps to, if a
    /// mapping holds it. No hashing.
    #[inline(always)]
    pub(crate) fn resolve_public(&self, protocol: Protocol, pool_index: u32, port: u16) -> Option<(u32, u16)> {
        let nat = &*self.nat;
        let slot = nat.pool.locate(pool_index, port)?;
        let inside = match nat.pool.allocated_owner(slot.block) {
            Some(a) => a,
            None => self.reserved_owner(protocol, pool_index, port, slot.block)?,
        };
        let (inside_port, _) = nat.pool.port_at(protocol, slot).mapping()?;
        Some((inside, inside_port))
    }

    /// [`Self::resolve_public`] for a block that is not an allocated
    /// dynamic one: reserved blocks belong to the deterministic map or to a
    /// static mapping; any other state has no owner.
    #[cold]
    #[inline(never)]
    fn reserved_owner(&self, protocol: Protocol, pool_index: u32, port: u16, block: u32) -> Option<u32> {
        let nat = &*self.nat;
        match nat.pool.owner_of(block)? {
            (BlockState::Allocated, a) => Some(a),
            _ => match &nat.deterministic {
                Some(d) => d.reverse_index(pool_index, port),
                None => nat.static_owner(protocol, pool_index, port),
            },
        }
    }

    /// The inside endpoint of an inbound packet's flow, creating the
    /// session if the filtering behaviour lets it in; `hint` from the
    /// packet's [`super::Prepared`] when (`pool_index`, `port`, `remote`,
    /// `remote_port`) are that packet's.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn inbound(
        &mut self,
        protocol: Protocol,
        pool_index: u32,
        port: u16,
        remote: u32,
        remote_port: u16,
        flags: u8,
        hint: Option<SessionHint>,
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
        if let Some(r) = self.find_session(&key, SessionHint::hash_for(hint, inside, inside_port)) {
            if !r.value.dying() {
                self.touch(r, inside, protocol, false, flags);
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
        // RFC 6887 section 11: a PCP MAP mapping lets remotes in; with
        // FILTER options (section 13.3) only the peers they name, plus
        // those the filtering behaviour admits by the subscriber's own
        // traffic (address-dependent filtering).
        let admitted = if self.pcp_holds(protocol, pool_index, port) {
            match self.nat.pcp_filters.admits(protocol, pool_index, port, remote, remote_port) {
                PeerVerdict::Unfiltered | PeerVerdict::Admitted => true,
                PeerVerdict::Refused => allowed && self.nat.config.filtering != Filtering::EndpointIndependent,
                PeerVerdict::NotNamed => allowed,
            }
        } else {
            allowed
        };
        if !admitted {
            return Err(Verdict::Drop(DropReason::Filtered));
        }
        self.create_inbound(&key, pool_index, port, flags)
    }

    #[cold]
    fn create_inbound(&mut self, key: &SessionKey, pool_index: u32, port: u16, flags: u8) -> Result<(u32, u16), Verdict> {
        let nat = &*self.nat;
        let Some(sub) = nat.subscribers.find(key.inside_addr) else {
            return Err(Verdict::Drop(DropReason::NoMapping));
        };
        // Issue 9 item 3: the inbound budget, never the subscriber's own
        // (and under table pressure, no more than the fair share).
        let mut limit = nat.runtime.inbound_per_subscriber();
        if self.under_pressure() {
            limit = limit.min(nat.runtime.fair_share());
        }
        match nat.subscribers.reserve_inbound(sub, limit) {
            Ok(()) => {}
            Err(LimitError::Dying) => return Err(Verdict::Drop(DropReason::SessionRace)),
            Err(_) => return Err(Verdict::Drop(DropReason::InboundSessionLimit)),
        }
        let block = nat.pool.block_of(pool_index, port).expect("resolved above");
        match nat
            .pool
            .port(key.protocol, block, port)
            .acquire_inbound(key.inside_port, nat.runtime.inbound_per_mapping())
        {
            Ok(()) => {}
            Err(e) => {
                nat.subscribers.release_inbound(sub.index);
                return Err(Verdict::Drop(match e {
                    JoinError::Full => DropReason::InboundSessionLimit,
                    JoinError::Gone => DropReason::SessionRace,
                }));
            }
        }
        let value = self.new_value(port, key.protocol, false, flags, SessionValue::INBOUND | SessionValue::SEEN_IN);
        match nat.sessions.insert(key, pool_index, value) {
            SessionInsert::Inserted(_) => {
                self.counters.incr(Counter::SessionsCreated);
                nat.subscribers.mark_received(sub);
                if self.ha_sync.is_some() {
                    self.ha_created(key, pool_index, value);
                }
                Ok((key.inside_addr, key.inside_port))
            }
            other => {
                crate::sweeper::release_mapping_ref(nat, &key.mapping(), pool_index, port, true);
                nat.subscribers.release_inbound(sub.index);
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
