//! [`Runtime`]: the settings that can change while the NAT runs
//! (`cgnatctl reload`): timers, per-subscriber limits and the limits
//! against hostile traffic. Relaxed atomics, read on the slow path and by
//! the sweeper.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::config::{NatConfig, Timeouts};
use crate::table::subscriber::Limits;

/// Settings that can change while the NAT runs.
#[derive(Debug)]
pub struct Runtime {
    udp: AtomicU32,
    tcp_established: AtomicU32,
    tcp_transitory: AtomicU32,
    icmp: AtomicU32,
    max_sessions_per_subscriber: AtomicU32,
    max_blocks_per_subscriber: AtomicU32,
    block_hold_down: AtomicU32,
    icmp_on_exhaustion: AtomicBool,
    unconfirmed_subscribers: AtomicU32,
    unconfirmed_sessions: AtomicU32,
    unconfirmed_blocks: AtomicU32,
    unconfirmed_timeout: AtomicU32,
    inbound_per_subscriber: AtomicU32,
    inbound_per_mapping: AtomicU32,
    inbound_timeout: AtomicU32,
    pressure_percent: AtomicU32,
    fair_share: AtomicU32,
    summary_interval: AtomicU32,
}

impl Runtime {
    pub(crate) fn new(c: &NatConfig) -> Self {
        let z = || AtomicU32::new(0);
        let r = Runtime {
            udp: z(),
            tcp_established: z(),
            tcp_transitory: z(),
            icmp: z(),
            max_sessions_per_subscriber: z(),
            max_blocks_per_subscriber: z(),
            block_hold_down: z(),
            icmp_on_exhaustion: AtomicBool::new(false),
            unconfirmed_subscribers: z(),
            unconfirmed_sessions: z(),
            unconfirmed_blocks: z(),
            unconfirmed_timeout: z(),
            inbound_per_subscriber: z(),
            inbound_per_mapping: z(),
            inbound_timeout: z(),
            pressure_percent: z(),
            fair_share: z(),
            summary_interval: z(),
        };
        r.store(c);
        r
    }

    pub(crate) fn store(&self, c: &NatConfig) {
        let o = Ordering::Relaxed;
        self.udp.store(c.timeouts.udp, o);
        self.tcp_established.store(c.timeouts.tcp_established, o);
        self.tcp_transitory.store(c.timeouts.tcp_transitory, o);
        self.icmp.store(c.timeouts.icmp, o);
        self.max_sessions_per_subscriber.store(c.max_sessions_per_subscriber, o);
        self.max_blocks_per_subscriber.store(c.max_blocks_per_subscriber as u32, o);
        self.block_hold_down.store(c.block_hold_down, o);
        self.icmp_on_exhaustion.store(c.icmp_on_exhaustion, o);
        let share = (c.max_subscribers as u64 * c.unconfirmed.max_subscribers_percent as u64 / 100).max(1);
        self.unconfirmed_subscribers.store(share as u32, o);
        self.unconfirmed_sessions.store(c.unconfirmed.max_sessions, o);
        self.unconfirmed_blocks.store(c.unconfirmed.max_blocks as u32, o);
        self.unconfirmed_timeout.store(c.unconfirmed.timeout, o);
        self.inbound_per_subscriber.store(c.inbound.max_sessions_per_subscriber, o);
        self.inbound_per_mapping.store(c.inbound.max_sessions_per_mapping, o);
        self.inbound_timeout.store(c.inbound.timeout, o);
        self.pressure_percent.store(c.fairness.pressure_percent as u32, o);
        self.fair_share.store(c.fairness.fair_share_sessions, o);
        self.summary_interval.store(c.admission.summary_interval_secs, o);
    }

    /// The timeouts in force.
    pub fn timeouts(&self) -> Timeouts {
        let o = Ordering::Relaxed;
        Timeouts {
            udp: self.udp.load(o),
            tcp_established: self.tcp_established.load(o),
            tcp_transitory: self.tcp_transitory.load(o),
            icmp: self.icmp.load(o),
        }
    }

    /// Sessions per subscriber in force (RFC 6888 REQ-5).
    pub fn max_sessions_per_subscriber(&self) -> u32 {
        self.max_sessions_per_subscriber.load(Ordering::Relaxed)
    }

    /// Blocks per subscriber in force (RFC 6888 REQ-4).
    pub fn max_blocks_per_subscriber(&self) -> u16 {
        self.max_blocks_per_subscriber.load(Ordering::Relaxed) as u16
    }

    /// Session limits of confirmed and unconfirmed subscribers.
    pub fn session_limits(&self) -> Limits {
        Limits {
            confirmed: self.max_sessions_per_subscriber(),
            unconfirmed: self.unconfirmed_sessions.load(Ordering::Relaxed),
        }
    }

    /// Block limits of confirmed and unconfirmed subscribers.
    pub fn block_limits(&self) -> Limits {
        Limits {
            confirmed: self.max_blocks_per_subscriber() as u32,
            unconfirmed: self.unconfirmed_blocks.load(Ordering::Relaxed),
        }
    }

    /// How many unconfirmed subscribers the table may hold.
    pub fn unconfirmed_subscribers(&self) -> u32 {
        self.unconfirmed_subscribers.load(Ordering::Relaxed)
    }

    /// Idle timeout of an unconfirmed subscriber's sessions, seconds.
    pub fn unconfirmed_timeout(&self) -> u32 {
        self.unconfirmed_timeout.load(Ordering::Relaxed)
    }

    /// Inbound-created sessions per subscriber.
    pub fn inbound_per_subscriber(&self) -> u32 {
        self.inbound_per_subscriber.load(Ordering::Relaxed)
    }

    /// Inbound-created sessions per mapping.
    pub fn inbound_per_mapping(&self) -> u32 {
        self.inbound_per_mapping.load(Ordering::Relaxed)
    }

    /// Idle timeout of an inbound-created session the inside host has not
    /// answered yet, seconds.
    pub fn inbound_timeout(&self) -> u32 {
        self.inbound_timeout.load(Ordering::Relaxed)
    }

    /// Table fill (percent) from which the fair share applies.
    pub fn pressure_percent(&self) -> u32 {
        self.pressure_percent.load(Ordering::Relaxed)
    }

    /// Sessions a subscriber may grow to under table pressure.
    pub fn fair_share(&self) -> u32 {
        self.fair_share.load(Ordering::Relaxed)
    }

    /// Seconds between `admission-limit` summary records.
    pub fn summary_interval(&self) -> u32 {
        self.summary_interval.load(Ordering::Relaxed)
    }

    /// Block hold-down in force, seconds (RFC 6888 REQ-8).
    pub fn block_hold_down(&self) -> u32 {
        self.block_hold_down.load(Ordering::Relaxed)
    }

    /// Whether exhaustion drops answer ICMP host unreachable (RFC 6888 REQ-11).
    pub fn icmp_on_exhaustion(&self) -> bool {
        self.icmp_on_exhaustion.load(Ordering::Relaxed)
    }
}
