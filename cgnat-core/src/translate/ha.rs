//! The NAT's side of an HA pair (issue 13, `docs/decisions/021-ha-pair.md`):
//! a worker tells the standby about each session it creates through a ring
//! of its own (no lock, no system call: one push on the cold path of a new
//! session), and a node taking over adopts the blocks and sessions it
//! mirrored, with the same public address and port, so flows continue.
//!
//! Adoption logs each adopted block as a `block-alloc` with reason
//! `ha-takeover` through the worker's sink (the new active's run holds it
//! from then on) and, like any new block, keeps its ports from carrying
//! traffic until that record is durable.

use core::net::Ipv4Addr;

use super::Worker;
use crate::counters::Counter;
use crate::event::{Event, EventKind, EventSink, ProtocolScope, Reason};
use crate::flow::{Protocol, SessionKey};
use crate::pool::BlockState;
use crate::ring::Producer;
use crate::table::mapping::MappingInsert;
use crate::table::session::{SessionEntry, SessionInsert, SessionValue};
use crate::table::subscriber::{Limits, SubscriberInsert, SubscriberRef};
use crate::time::Instant;
use crate::translate::Nat;
use crate::wire::ha::{SessionRecord, SESSION_INBOUND, SESSION_SEEN_IN, SESSION_TWO_WAY};

/// Why a mirrored block or session could not be adopted (counted by the
/// caller; the flow then starts over on the new active).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum AdoptError {
    /// The public address is not in this node's pool (the pair's pools
    /// differ: a configuration error).
    NotInPool,
    /// Not TCP, UDP or ICMP.
    Protocol,
    /// The subscriber exists here with another public address.
    SubscriberElsewhere,
    /// The block is held by someone else here.
    BlockTaken,
    /// The port is mapped to another endpoint here.
    PortTaken,
    /// The endpoint has a mapping on another port here.
    MappingConflict,
    /// A limit or a full table refused it.
    Full,
    /// Its allocation record could not be queued (the log is stalled).
    LogStalled,
}

impl AdoptError {
    /// The lower-case name (logs, counters).
    pub fn name(self) -> &'static str {
        match self {
            AdoptError::NotInPool => "not-in-pool",
            AdoptError::Protocol => "protocol",
            AdoptError::SubscriberElsewhere => "subscriber-elsewhere",
            AdoptError::BlockTaken => "block-taken",
            AdoptError::PortTaken => "port-taken",
            AdoptError::MappingConflict => "mapping-conflict",
            AdoptError::Full => "full",
            AdoptError::LogStalled => "log-stalled",
        }
    }
}

const NO_LIMIT: Limits = Limits {
    confirmed: u32::MAX,
    unconfirmed: u32::MAX,
};

/// The sync record of a session as the table holds it, at `now`.
pub fn session_record(nat: &Nat, key: &SessionKey, pool_index: u32, value: SessionValue, now: Instant) -> SessionRecord {
    let mut flags = 0;
    if value.inbound() {
        flags |= SESSION_INBOUND;
    }
    if value.has(SessionValue::SEEN_IN) {
        flags |= SESSION_SEEN_IN;
    }
    if value.two_way() {
        flags |= SESSION_TWO_WAY;
    }
    SessionRecord {
        protocol: key.protocol.ip_number(),
        state: value.tcp(),
        flags,
        subscriber: Ipv4Addr::from(key.inside_addr),
        inside_port: key.inside_port,
        public: Ipv4Addr::from(nat.pool.addr_of(pool_index)),
        public_port: value.public_port(),
        remote: Ipv4Addr::from(key.remote_addr),
        remote_port: key.remote_port,
        last_seen_us: now.as_micros(),
    }
}

/// The sync record of a session table entry (the active's periodic
/// refresh walk).
pub fn entry_record(nat: &Nat, e: &SessionEntry, now: Instant) -> SessionRecord {
    session_record(nat, &e.key, e.pool_index, e.value, now)
}

impl<E: EventSink> Worker<E> {
    /// Streams every session this worker creates into `ring` (the HA
    /// sync path to the management core). A full ring counts
    /// [`Counter::HaSyncRingFull`]; the management core then resyncs the
    /// standby from the table, so nothing is silently lost.
    pub fn set_ha_sync(&mut self, ring: Producer<SessionRecord>) {
        self.ha_sync = Some(ring);
    }

    /// A session was created: one push to the sync ring, if any.
    #[cold]
    #[inline(never)]
    pub(crate) fn ha_created(&mut self, key: &SessionKey, pool_index: u32, value: SessionValue) {
        let r = session_record(&self.nat, key, pool_index, value, self.now);
        if let Some(ring) = &mut self.ha_sync {
            if ring.push(r).is_err() {
                self.counters.incr(Counter::HaSyncRingFull);
            }
        }
    }

    /// The subscriber `addr` on pool address `pool_index`, created if
    /// needed (confirmed: the active knew it could receive).
    fn ha_subscriber(&mut self, addr: Ipv4Addr, pool_index: u32) -> Result<SubscriberRef, AdoptError> {
        let nat = &*self.nat;
        let s = match nat.subscribers.find(u32::from(addr)) {
            Some(s) => s,
            None => match nat.subscribers.insert(u32::from(addr), pool_index, false, None) {
                SubscriberInsert::Inserted(s) => {
                    self.counters.incr(Counter::SubscribersCreated);
                    s
                }
                SubscriberInsert::Exists(s) => s,
                _ => return Err(AdoptError::Full),
            },
        };
        if s.pool_index != pool_index {
            return Err(AdoptError::SubscriberElsewhere);
        }
        nat.subscribers.confirm(s);
        Ok(s)
    }

    /// Adopts the block of `public`:`port` for `subscriber` at `now`: held
    /// by it already, or claimed now and logged as a `block-alloc` with
    /// reason `ha-takeover`. Returns the block id.
    pub fn ha_adopt_block(&mut self, subscriber: Ipv4Addr, public: Ipv4Addr, port: u16, now: Instant) -> Result<u32, AdoptError> {
        self.begin(now);
        let nat = self.nat.clone();
        let pool = &nat.pool;
        let pool_index = pool.index_of(u32::from(public)).ok_or(AdoptError::NotInPool)?;
        let block = pool.block_of(pool_index, port).ok_or(AdoptError::NotInPool)?;
        if nat.deterministic.is_some() {
            // RFC 7422: the formula attributes the block; nothing to log.
            return Ok(block);
        }
        let sub = self.ha_subscriber(subscriber, pool_index)?;
        match pool.owner_of(block) {
            Some((BlockState::Allocated, a)) if a == u32::from(subscriber) => return Ok(block),
            // A static mapping's block: configuration, logged by the new
            // run's configuration records.
            Some((BlockState::Reserved, _)) => return Ok(block),
            Some(_) => return Err(AdoptError::BlockTaken),
            None if pool.is_pending(block) => {
                // Adopted moments ago, its record on its way.
                return if pool.block_info(block).owner_addr == subscriber {
                    Ok(block)
                } else {
                    Err(AdoptError::BlockTaken)
                };
            }
            None => {}
        }
        nat.subscribers.reserve_block(sub, NO_LIMIT).map_err(|_| AdoptError::Full)?;
        let secs = now.secs32();
        if !pool.claim_block_at(block, secs, 0) {
            nat.subscribers.unreserve_block(sub.index);
            return Err(AdoptError::BlockTaken);
        }
        let (first_port, last_port) = pool.block_ports(block);
        let record = Event {
            seq: 0,
            worker: 0,
            time: now,
            kind: EventKind::BlockAllocated,
            subscriber,
            public_addr: public,
            first_port,
            last_port,
            protocol: ProtocolScope::All,
            reason: Reason::HaTakeover,
            aux: 0,
        };
        if !self.seq.emit(&mut self.sink, record) {
            pool.cancel_block(block);
            nat.subscribers.unreserve_block(sub.index);
            return Err(AdoptError::LogStalled);
        }
        pool.publish_block(block, sub.index, u32::from(subscriber), secs, nat.durable_log());
        // claim_block_at counted one mapping on the block: none yet.
        pool.block_release(block);
        nat.subscribers.add_block(sub.index, block);
        self.counters.incr(Counter::BlocksAllocated);
        Ok(block)
    }

    /// Adopts a mirrored session at `now`: its block (adopted if needed),
    /// its endpoint-independent mapping on the same public port, and the
    /// session with its TCP state and flags; its timers start at `now`.
    /// Adopt outbound sessions before inbound ones (an inbound session
    /// joins the mapping an outbound one made). `Ok(false)`: it exists.
    pub fn ha_adopt_session(&mut self, r: &SessionRecord, now: Instant) -> Result<bool, AdoptError> {
        let protocol = Protocol::from_ip(r.protocol).ok_or(AdoptError::Protocol)?;
        let key = SessionKey::new(protocol, u32::from(r.subscriber), r.inside_port, u32::from(r.remote), r.remote_port);
        if self.nat.sessions.find(&key).is_some() {
            return Ok(false);
        }
        let block = self.ha_adopt_block(r.subscriber, r.public, r.public_port, now)?;
        let nat = self.nat.clone();
        let pool = &nat.pool;
        let pool_index = pool.index_of(u32::from(r.public)).ok_or(AdoptError::NotInPool)?;
        let sub = self.ha_subscriber(r.subscriber, pool_index)?;
        let inbound = r.flags & SESSION_INBOUND != 0;
        let reserved = if inbound {
            nat.subscribers.reserve_inbound(sub, u32::MAX)
        } else {
            nat.subscribers.reserve_session(sub, NO_LIMIT)
        };
        reserved.map_err(|_| AdoptError::Full)?;
        let give_back = |nat: &Nat| {
            if inbound {
                nat.subscribers.release_inbound(sub.index)
            } else {
                nat.subscribers.release_session(sub.index)
            }
        };
        let mk = key.mapping();
        let entry = pool.port(protocol, block, r.public_port);
        let joined = match nat.mappings.find(&mk) {
            Some(m) if m.public_port != r.public_port || m.pool_index != pool_index => Err(AdoptError::MappingConflict),
            Some(_) if inbound => entry.acquire_inbound(r.inside_port, u32::MAX).map_err(|_| AdoptError::PortTaken),
            Some(_) => entry.acquire(r.inside_port).then_some(()).ok_or(AdoptError::PortTaken),
            None => {
                let slot = if nat.deterministic.is_some() { 0 } else { sub.index };
                if !pool.block_acquire(block, slot) {
                    Err(AdoptError::BlockTaken)
                } else if !entry.try_claim(r.inside_port) {
                    pool.block_release(block);
                    Err(AdoptError::PortTaken)
                } else {
                    match nat.mappings.insert(&mk, r.public_port, pool_index) {
                        MappingInsert::Inserted(_) => {
                            self.counters.incr(Counter::MappingsCreated);
                            Ok(())
                        }
                        _ => {
                            entry.free();
                            pool.block_release(block);
                            Err(AdoptError::Full)
                        }
                    }
                }
            }
        };
        if let Err(e) = joined {
            give_back(&nat);
            return Err(e);
        }
        let mut extra = 0;
        if inbound {
            extra |= SessionValue::INBOUND;
        }
        if r.flags & SESSION_SEEN_IN != 0 {
            extra |= SessionValue::SEEN_IN;
        }
        if r.flags & SESSION_TWO_WAY != 0 {
            extra |= SessionValue::TWO_WAY;
        }
        if pool.is_pending(block) {
            extra |= SessionValue::PENDING;
        }
        let value = SessionValue::new(r.public_port, now.secs32(), r.state, extra);
        match nat.sessions.insert(&key, pool_index, value) {
            SessionInsert::Inserted(_) => {
                self.counters.incr(Counter::SessionsCreated);
                Ok(true)
            }
            _ => {
                crate::sweeper::release_mapping_ref(&nat, &mk, pool_index, r.public_port, inbound);
                give_back(&nat);
                Err(AdoptError::Full)
            }
        }
    }
}
