//! Inside → outside: find the flow's session, or create it (subscriber,
//! endpoint-independent mapping, port block, session), enforcing limits:
//! admission of new subscribers and blocks (`nat.admission`), the caps of
//! unconfirmed subscribers (`nat.unconfirmed`), RFC 6888 REQ-4/REQ-5
//! limits and the global fair share (`nat.fairness`).

use super::prepared::SessionHint;
use super::{Verdict, Worker};
use crate::admission::Admit;
use crate::counters::{Counter, DropReason};
use crate::event::{Event, EventKind, EventSink, ProtocolScope, Reason, TableId};
use crate::flow::{MappingKey, Protocol, SessionKey};
use crate::pool::deterministic::DeterministicRange;
use crate::pool::BlockState;
use crate::table::mapping::MappingInsert;
use crate::table::session::SessionInsert;
use crate::table::session::SessionValue;
use crate::table::subscriber::{LimitError, SubscriberInsert, SubscriberRef};
use core::net::Ipv4Addr;

impl<E: EventSink> Worker<E> {
    /// The public (pool index, port) of an outbound packet's flow; `hint`
    /// from the packet's [`super::Prepared`].
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn outbound(
        &mut self,
        protocol: Protocol,
        src: u32,
        sport: u16,
        dst: u32,
        dport: u16,
        flags: u8,
        hint: Option<SessionHint>,
    ) -> Result<(u32, u16), Verdict> {
        let key = SessionKey::new(protocol, src, sport, dst, dport);
        if let Some(r) = self.find_session(&key, SessionHint::hash_for(hint, src, sport)) {
            if !r.value.dying() {
                self.touch(r, src, protocol, true, flags);
                return Ok((r.pool_index, r.value.public_port()));
            }
        }
        self.create_outbound(&key, flags)
    }

    /// Whether a table is under pressure (`nat.fairness`): at or above the
    /// fill from which only subscribers below their fair share may grow.
    pub(crate) fn under_pressure(&self) -> bool {
        let nat = &*self.nat;
        let p = nat.runtime.pressure_percent() as u64;
        p < 100
            && (nat.sessions.len() as u64 * 100 >= nat.sessions.capacity() as u64 * p
                || nat.mappings.len() as u64 * 100 >= nat.mappings.capacity() as u64 * p)
    }

    #[cold]
    pub(crate) fn create_outbound(&mut self, key: &SessionKey, flags: u8) -> Result<(u32, u16), Verdict> {
        let (sub, counted) = self.subscriber_for(key)?;
        self.confirm_on_new_session(sub);
        let nat = &*self.nat;
        // RFC 6888 REQ-5 (per-subscriber sessions; the tighter unconfirmed
        // cap until the subscriber showed it can receive) and the global
        // fair share: under table pressure only subscribers below it grow.
        let mut limits = nat.runtime.session_limits();
        let pressure = self.under_pressure();
        if pressure {
            limits.confirmed = limits.confirmed.min(nat.runtime.fair_share());
            limits.unconfirmed = limits.unconfirmed.min(limits.confirmed);
        }
        // A subscriber created just now already counts this session (see
        // `SubscriberTable::insert_with_session`); every limit is at least
        // one (the configuration refuses 0), so it is within them.
        let reserved = if counted {
            Ok(())
        } else {
            nat.subscribers.reserve_session(sub, limits)
        };
        match reserved {
            Ok(()) => {}
            Err(LimitError::Limit) if pressure && limits.confirmed < nat.runtime.max_sessions_per_subscriber() => {
                return Err(self.exhausted(DropReason::FairShare));
            }
            Err(LimitError::Limit) => {
                self.quota_event(
                    EventKind::SessionQuotaExceeded,
                    key.inside_addr,
                    nat.pool.addr_of(sub.pool_index),
                    key.protocol,
                    nat.runtime.max_sessions_per_subscriber(),
                );
                return Err(self.exhausted(DropReason::SessionLimit));
            }
            Err(LimitError::Unconfirmed) => return Err(Verdict::Drop(DropReason::UnconfirmedLimit)),
            Err(LimitError::Dying) => return Err(Verdict::Drop(DropReason::SessionRace)),
        }
        let port = match self.mapping_for(key, sub) {
            Ok(p) => p,
            Err(v) => {
                self.nat.subscribers.release_session(sub.index);
                return Err(v);
            }
        };
        let nat = &*self.nat;
        let pending = if self.await_block.is_some() { SessionValue::PENDING } else { 0 };
        let value = self.new_value(port, key.protocol, true, flags, pending);
        match nat.sessions.insert(key, sub.pool_index, value) {
            SessionInsert::Inserted(_) => {
                self.counters.incr(Counter::SessionsCreated);
                if self.ha_sync.is_some() {
                    self.ha_created(key, sub.pool_index, value);
                }
                Ok((sub.pool_index, port))
            }
            other => {
                crate::sweeper::release_mapping_ref(nat, &key.mapping(), sub.pool_index, port, false);
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
    /// public address chosen once (paired pooling, RFC 6888 REQ-2) if the
    /// admission limits let it in (RFC 6888 section 6: a flood of new
    /// sources cannot take the table, the pool or the log).
    /// Also says whether it was created here, counting the new session.
    pub(crate) fn subscriber_for(&mut self, key: &SessionKey) -> Result<(SubscriberRef, bool), Verdict> {
        if let Some(s) = self.nat.subscribers.find(key.inside_addr) {
            return Ok((s, false));
        }
        // A new subscriber (rare): a handle of its own, so self stays free.
        let nat = self.nat.clone();
        let admit = nat.admission.admit_subscriber(key.inside_addr, self.now);
        if admit == Admit::No {
            self.refusals.add(nat.admission.aggregate_of(key.inside_addr));
            return Err(Verdict::Drop(DropReason::AdmissionLimited));
        }
        let Some(pool_index) = nat.choose_address(key.inside_addr) else {
            self.quota_event(EventKind::PoolExhausted, key.inside_addr, 0, key.protocol, 0);
            return Err(self.exhausted(DropReason::PoolExhausted));
        };
        // A retry admission may go past the unconfirmed share of the table.
        let cap = (admit == Admit::Yes).then(|| nat.runtime.unconfirmed_subscribers());
        match nat.subscribers.insert_with_session(key.inside_addr, pool_index, cap) {
            SubscriberInsert::Inserted(s) => {
                self.counters.incr(Counter::SubscribersCreated);
                if admit == Admit::Retry {
                    self.counters.incr(Counter::AdmittedOnRetry);
                }
                Ok((s, true))
            }
            SubscriberInsert::Exists(s) => Ok((s, false)),
            SubscriberInsert::Race => Err(Verdict::Drop(DropReason::SessionRace)),
            SubscriberInsert::UnconfirmedFull => {
                // Refused like an admission: its retry will be preferred.
                nat.admission.refuse(key.inside_addr, self.now);
                self.refusals.add(nat.admission.aggregate_of(key.inside_addr));
                Err(Verdict::Drop(DropReason::UnconfirmedLimit))
            }
            SubscriberInsert::Full => {
                self.table_full(TableId::Subscribers, key.inside_addr, key.protocol);
                Err(self.exhausted(DropReason::SubscriberTableFull))
            }
        }
    }

    /// The endpoint-independent mapping (RFC 4787 REQ-1) of the flow's
    /// inside endpoint, with one more session counted on it; created if
    /// there is none.
    pub(crate) fn mapping_for(&mut self, key: &SessionKey, sub: SubscriberRef) -> Result<u16, Verdict> {
        self.mapping_preferring(key, sub, None)
    }

    /// [`Self::mapping_for`], taking public port `prefer` for a new
    /// mapping if it lies in a block the subscriber holds and is free (a
    /// PCP client's suggested port, RFC 6887 section 11.3); otherwise a
    /// port as usual.
    pub(crate) fn mapping_preferring(&mut self, key: &SessionKey, sub: SubscriberRef, prefer: Option<u16>) -> Result<u16, Verdict> {
        let mk = key.mapping();
        if let Some(m) = self.nat.mappings.find(&mk) {
            return self.join_mapping(&mk, m.pool_index, m.public_port);
        }
        let preferred = prefer.and_then(|p| self.claim_preferred(key, sub, p));
        let port = match preferred {
            Some(p) => p,
            None => self.allocate_port(key, sub)?,
        };
        match self.nat.mappings.insert(&mk, port, sub.pool_index) {
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

    fn join_mapping(&mut self, mk: &MappingKey, pool_index: u32, port: u16) -> Result<u16, Verdict> {
        let pool = &self.nat.pool;
        let joined = match pool.block_of(pool_index, port) {
            Some(b) if pool.port(mk.protocol, b, port).acquire(mk.inside_port) => Some(b),
            _ => None,
        };
        match joined {
            Some(b) => {
                self.await_if_pending(b);
                Ok(port)
            }
            // The mapping is being removed by the sweeper right now.
            _ => Err(Verdict::Drop(DropReason::SessionRace)),
        }
    }

    /// Makes this packet wait if block `b`'s allocation record is not
    /// durable yet (the NAT log rule: no translation before the record).
    #[inline]
    fn await_if_pending(&mut self, b: u32) {
        if self.nat.pool.is_pending(b) {
            self.await_block = Some(b);
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

    /// In deterministic mode (RFC 7422): the range of inside address
    /// `inside` and the reserved block that holds it.
    fn deterministic_block(&self, inside: u32) -> Option<(DeterministicRange, u32)> {
        let r = self.nat.deterministic.as_ref()?.forward(Ipv4Addr::from(inside))?;
        let block = r.pool_index * self.nat.pool.blocks_per_address() + r.slot;
        Some((r, block))
    }

    /// Claims public port `want` for `key`'s new mapping if it lies in a
    /// block of the subscriber's (its allocated blocks; in deterministic
    /// mode its own range, RFC 7422) and is free, or in a free block of
    /// its public address that it may still get (within its block limit):
    /// that block is then allocated and logged like any new block (RFC
    /// 6887 section 11.3, issue 12 item 2).
    fn claim_preferred(&mut self, key: &SessionKey, sub: SubscriberRef, want: u16) -> Option<u16> {
        let nat = self.nat.clone();
        let pool = &nat.pool;
        let b = pool.block_of(sub.pool_index, want)?;
        let (own, slot) = match self.deterministic_block(key.inside_addr) {
            Some((_, block)) => (block == b, 0),
            None if nat.deterministic.is_some() => return None,
            None => (
                matches!(pool.owner_of(b), Some((BlockState::Allocated, a)) if a == key.inside_addr),
                sub.index,
            ),
        };
        if !own {
            if nat.deterministic.is_some() || pool.owner_of(b).is_some() {
                return None;
            }
            let first = nat.subscribers.blocks(sub.index).next().is_none();
            // claim_block_at reserved this mapping's count on the block.
            let block = self.allocate_block(key, sub, first, Some(b)).ok()?;
            if pool.port(key.protocol, block, want).try_claim(key.inside_port) {
                return Some(want);
            }
            let start = self.random();
            let p = pool.claim_port(key.protocol, block, start, key.inside_port);
            if p.is_none() {
                pool.block_release(block);
            }
            return p;
        }
        if !pool.block_acquire(b, slot) {
            return None;
        }
        if !pool.port(key.protocol, b, want).try_claim(key.inside_port) {
            pool.block_release(b);
            return None;
        }
        self.await_if_pending(b);
        Some(want)
    }

    /// A free port for a new mapping: in one of the subscriber's blocks, or
    /// in a new block whose allocation record was queued first.
    fn allocate_port(&mut self, key: &SessionKey, sub: SubscriberRef) -> Result<u16, Verdict> {
        // RFC 6888 REQ-15: the port inside the block is chosen unpredictably.
        let start = self.random();
        // The common case first: a free port in one of the subscriber's
        // blocks, with no handle of its own on the NAT (no reference count
        // traffic on the shared Arc).
        let mut first = true;
        let mut claimed = None;
        if self.nat.deterministic.is_none() {
            let (pool, subs) = (&self.nat.pool, &self.nat.subscribers);
            for b in subs.blocks(sub.index) {
                first = false;
                if pool.block_acquire(b, sub.index) {
                    if let Some(p) = pool.claim_port(key.protocol, b, start, key.inside_port) {
                        claimed = Some((b, p));
                        break;
                    }
                    pool.block_release(b);
                }
            }
        }
        if let Some((b, p)) = claimed {
            self.await_if_pending(b);
            return Ok(p);
        }
        let nat = self.nat.clone();
        let pool = &nat.pool;
        if nat.deterministic.is_some() {
            let (r, block) = self
                .deterministic_block(key.inside_addr)
                .ok_or(Verdict::Drop(DropReason::PoolExhausted))?;
            // Deterministic blocks are reserved by configuration: their epoch
            // record was written before the first worker started.
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
        let block = self.allocate_block(key, sub, first, None)?;
        // claim_block reserved this first mapping's count on the block.
        match pool.claim_port(key.protocol, block, start, key.inside_port) {
            Some(p) => Ok(p),
            None => {
                pool.block_release(block);
                Err(Verdict::Drop(DropReason::BlockLimit))
            }
        }
    }

    /// A new block for the subscriber of `key` (`first`: it holds none
    /// yet), on its public address: any free block there, or block `at` if
    /// it is free (a PCP client's suggested port, RFC 6887 section 11.3).
    /// Its allocation record is queued first (RFC 6888 REQ-14); the block
    /// comes back published with one mapping's count reserved on it.
    #[inline(never)]
    fn allocate_block(&mut self, key: &SessionKey, sub: SubscriberRef, first: bool, at: Option<u32>) -> Result<u32, Verdict> {
        let nat = self.nat.clone();
        let pool = &nat.pool;
        let public = pool.addr_of(sub.pool_index);
        let limits = nat.runtime.block_limits();
        match nat.subscribers.reserve_block(sub, limits) {
            Ok(()) => {}
            Err(LimitError::Limit) => {
                // RFC 6888 REQ-4: per-subscriber port limit.
                self.quota_event(
                    EventKind::BlockQuotaExceeded,
                    key.inside_addr,
                    public,
                    key.protocol,
                    limits.confirmed,
                );
                return Err(self.exhausted(DropReason::BlockLimit));
            }
            Err(LimitError::Unconfirmed) => return Err(Verdict::Drop(DropReason::UnconfirmedLimit)),
            Err(LimitError::Dying) => return Err(Verdict::Drop(DropReason::SessionRace)),
        }
        // A subscriber's first block came with its admission; further ones
        // have their own budget (RFC 6888 section 6).
        if !first && !nat.admission.admit_block(key.inside_addr, self.now) {
            nat.subscribers.unreserve_block(sub.index);
            self.refusals.add(nat.admission.aggregate_of(key.inside_addr));
            return Err(Verdict::Drop(DropReason::BlockAdmissionLimited));
        }
        let now = self.now.secs32();
        let claimed = match at {
            None => pool.claim_block(sub.pool_index, self.random(), now, nat.runtime.block_hold_down()),
            Some(b) => pool.claim_block_at(b, now, nat.runtime.block_hold_down()).then_some(b),
        };
        let Some(block) = claimed else {
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
        // Durable before use: with a durable log required, the block's ports
        // carry no packet until the management core says its record is
        // durable in every legal target (this packet waits).
        let pending = nat.durable_log();
        pool.publish_block(block, sub.index, key.inside_addr, now, pending);
        if pending {
            self.await_block = Some(block);
        }
        nat.subscribers.add_block(sub.index, block);
        self.counters.incr(Counter::BlocksAllocated);
        Ok(block)
    }
}
