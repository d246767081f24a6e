//! Inside → outside: find the flow's session, or create it (subscriber,
//! endpoint-independent mapping, port block, session), enforcing limits.

use super::{Verdict, Worker};
use crate::counters::{Counter, DropReason};
use crate::event::{Event, EventKind, EventSink, ProtocolScope, Reason, TableId};
use crate::flow::{MappingKey, Protocol, SessionKey};
use crate::table::mapping::MappingInsert;
use crate::table::session::SessionInsert;
use crate::table::subscriber::{LimitError, SubscriberInsert, SubscriberRef};
use core::net::Ipv4Addr;

impl<E: EventSink> Worker<E> {
    /// The public (pool index, port) of an outbound packet's flow.
    #[inline]
    pub(crate) fn outbound(
        &mut self,
        protocol: Protocol,
        src: u32,
        sport: u16,
        dst: u32,
        dport: u16,
        flags: u8,
    ) -> Result<(u32, u16), Verdict> {
        let key = SessionKey {
            protocol,
            inside_addr: src,
            inside_port: sport,
            remote_addr: dst,
            remote_port: if protocol == Protocol::Icmp { 0 } else { dport },
        };
        if let Some(r) = self.nat.sessions.find(&key) {
            if !r.value.dying() {
                self.touch(r, protocol, true, flags);
                return Ok((r.pool_index, r.value.public_port()));
            }
        }
        self.create_outbound(&key, flags)
    }

    #[cold]
    fn create_outbound(&mut self, key: &SessionKey, flags: u8) -> Result<(u32, u16), Verdict> {
        let sub = self.subscriber_for(key)?;
        let nat = self.nat.clone();
        match nat
            .subscribers
            .reserve_session(sub.index, nat.runtime.max_sessions_per_subscriber())
        {
            Ok(()) => {}
            Err(LimitError::Limit) => {
                // RFC 6888 REQ-5: per-subscriber session limit.
                self.quota_event(
                    EventKind::SessionQuotaExceeded,
                    key.inside_addr,
                    nat.pool.addr_of(sub.pool_index),
                    key.protocol,
                    nat.runtime.max_sessions_per_subscriber(),
                );
                return Err(self.exhausted(DropReason::SessionLimit));
            }
            Err(LimitError::Dying) => return Err(Verdict::Drop(DropReason::SessionRace)),
        }
        let port = match self.mapping_for(key, sub) {
            Ok(p) => p,
            Err(v) => {
                nat.subscribers.release_session(sub.index);
                return Err(v);
            }
        };
        let value = self.new_value(port, key.protocol, true, flags, 0);
        match nat.sessions.insert(key, sub.pool_index, value) {
            SessionInsert::Inserted(_) => {
                self.counters.incr(Counter::SessionsCreated);
                Ok((sub.pool_index, port))
            }
            other => {
                crate::sweeper::release_mapping_ref(&nat, &key.mapping(), sub.pool_index, port);
                nat.subscribers.release_session(sub.index);
                match other {
                    SessionInsert::Exists(r) => Ok((r.pool_index, r.value.public_port())),
                    SessionInsert::Race => Err(Verdict::Drop(DropReason::SessionRace)),
                    _ => {
                        self.table_full(TableId::Sessions, key.inside_addr, key.protocol);
                        Err(self.exhausted(DropReason::SessionTableFull))
                    }
                }
            }
        }
    }

    /// The subscriber of an inside address, created on first use with its
    /// public address chosen once (paired pooling, RFC 6888 REQ-2).
    fn subscriber_for(&mut self, key: &SessionKey) -> Result<SubscriberRef, Verdict> {
        let nat = self.nat.clone();
        if let Some(s) = nat.subscribers.find(key.inside_addr) {
            return Ok(s);
        }
        let Some(pool_index) = nat.choose_address(key.inside_addr) else {
            self.quota_event(EventKind::PoolExhausted, key.inside_addr, 0, key.protocol, 0);
            return Err(self.exhausted(DropReason::PoolExhausted));
        };
        match nat.subscribers.insert(key.inside_addr, pool_index, false) {
            SubscriberInsert::Inserted(s) => {
                self.counters.incr(Counter::SubscribersCreated);
                Ok(s)
            }
            SubscriberInsert::Exists(s) => Ok(s),
            SubscriberInsert::Race => Err(Verdict::Drop(DropReason::SessionRace)),
            SubscriberInsert::Full => {
                self.table_full(TableId::Subscribers, key.inside_addr, key.protocol);
                Err(self.exhausted(DropReason::SubscriberTableFull))
            }
        }
    }

    /// The endpoint-independent mapping (RFC 4787 REQ-1) of the flow's
    /// inside endpoint, with one more session counted on it; created if
    /// there is none.
    fn mapping_for(&mut self, key: &SessionKey, sub: SubscriberRef) -> Result<u16, Verdict> {
        let nat = self.nat.clone();
        let mk = key.mapping();
        if let Some(m) = nat.mappings.find(&mk) {
            return self.join_mapping(&mk, m.pool_index, m.public_port);
        }
        let port = self.allocate_port(key, sub)?;
        match nat.mappings.insert(&mk, port, sub.pool_index) {
            MappingInsert::Inserted(_) => {
                self.counters.incr(Counter::MappingsCreated);
                Ok(port)
            }
            other => {
                self.free_port(key.protocol, sub.pool_index, port);
                match other {
                    MappingInsert::Exists(m) => self.join_mapping(&mk, m.pool_index, m.public_port),
                    MappingInsert::Race => Err(Verdict::Drop(DropReason::SessionRace)),
                    _ => {
                        self.table_full(TableId::Mappings, key.inside_addr, key.protocol);
                        Err(self.exhausted(DropReason::MappingTableFull))
                    }
                }
            }
        }
    }

    fn join_mapping(&self, mk: &MappingKey, pool_index: u32, port: u16) -> Result<u16, Verdict> {
        let pool = &self.nat.pool;
        match pool.block_of(pool_index, port) {
            Some(b) if pool.port(mk.protocol, b, port).acquire(mk.inside_port) => Ok(port),
            // The mapping is being removed by the sweeper right now.
            _ => Err(Verdict::Drop(DropReason::SessionRace)),
        }
    }

    /// Gives back a port this worker claimed but could not use.
    fn free_port(&self, protocol: Protocol, pool_index: u32, port: u16) {
        let pool = &self.nat.pool;
        if let Some(b) = pool.block_of(pool_index, port) {
            pool.port(protocol, b, port).free();
            pool.block_release(b);
        }
    }

    /// A free port for a new mapping: in one of the subscriber's blocks, or
    /// in a new block whose allocation record was queued first.
    fn allocate_port(&mut self, key: &SessionKey, sub: SubscriberRef) -> Result<u16, Verdict> {
        let nat = self.nat.clone();
        let pool = &nat.pool;
        // RFC 6888 REQ-15: the port inside the block is chosen unpredictably.
        let start = self.random();
        if let Some(d) = &nat.deterministic {
            let r = d
                .forward(Ipv4Addr::from(key.inside_addr))
                .ok_or(Verdict::Drop(DropReason::PoolExhausted))?;
            let block = r.pool_index * pool.blocks_per_address() + r.slot;
            if pool.block_acquire(block, 0) {
                if let Some(p) = pool.claim_port(key.protocol, block, start, key.inside_port) {
                    return Ok(p);
                }
                pool.block_release(block);
            }
            self.quota_event(
                EventKind::BlockQuotaExceeded,
                key.inside_addr,
                u32::from(r.public_addr),
                key.protocol,
                1,
            );
            return Err(self.exhausted(DropReason::BlockLimit));
        }
        for b in nat.subscribers.blocks(sub.index) {
            if pool.block_acquire(b, sub.index) {
                if let Some(p) = pool.claim_port(key.protocol, b, start, key.inside_port) {
                    return Ok(p);
                }
                pool.block_release(b);
            }
        }
        let public = pool.addr_of(sub.pool_index);
        let limit = nat.runtime.max_blocks_per_subscriber();
        match nat.subscribers.reserve_block(sub.index, limit) {
            Ok(()) => {}
            Err(LimitError::Limit) => {
                // RFC 6888 REQ-4: per-subscriber port limit.
                self.quota_event(EventKind::BlockQuotaExceeded, key.inside_addr, public, key.protocol, limit as u32);
                return Err(self.exhausted(DropReason::BlockLimit));
            }
            Err(LimitError::Dying) => return Err(Verdict::Drop(DropReason::SessionRace)),
        }
        let now = self.now.secs32();
        let Some(block) = pool.claim_block(sub.pool_index, self.random(), now, nat.runtime.block_hold_down()) else {
            nat.subscribers.unreserve_block(sub.index);
            self.quota_event(EventKind::PoolExhausted, key.inside_addr, public, key.protocol, 0);
            return Err(self.exhausted(DropReason::PoolExhausted));
        };
        let (first_port, last_port) = pool.block_ports(block);
        let record = Event {
            seq: 0,
            worker: 0,
            time: self.now,
            kind: EventKind::BlockAllocated,
            subscriber: Ipv4Addr::from(key.inside_addr),
            public_addr: Ipv4Addr::from(public),
            first_port,
            last_port,
            protocol: ProtocolScope::All,
            reason: Reason::NewMapping,
            aux: 0,
        };
        // Never translate without a record: the block is used only once its
        // allocation record is queued (RFC 6888 REQ-14).
        if !self.seq.emit(&mut self.sink, record) {
            pool.cancel_block(block);
            nat.subscribers.unreserve_block(sub.index);
            return Err(Verdict::Drop(DropReason::LogStalled));
        }
        pool.publish_block(block, sub.index, key.inside_addr, now);
        nat.subscribers.add_block(sub.index, block);
        self.counters.incr(Counter::BlocksAllocated);
        // claim_block reserved this first mapping's count on the block.
        match pool.claim_port(key.protocol, block, start, key.inside_port) {
            Some(p) => Ok(p),
            None => {
                pool.block_release(block);
                Err(Verdict::Drop(DropReason::BlockLimit))
            }
        }
    }
}
