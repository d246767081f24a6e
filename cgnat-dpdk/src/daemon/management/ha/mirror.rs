//! The standby's copy of the active's state (issue 13 item 2): its blocks
//! with their log identity, its sessions (refreshed by the active's walk
//! of its table; a session not restated for longer than its idle timeout
//! plus the refresh period is gone there too), and its log position.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use cgnat_core::wire::ha::{BlockRecord, Record, SessionRecord};
use cgnat_core::Instant;

/// A session's identity: protocol, inside endpoint, remote endpoint.
pub type SessionId = (u8, Ipv4Addr, u16, Ipv4Addr, u16);

/// The identity of `r`.
pub fn session_id(r: &SessionRecord) -> SessionId {
    (r.protocol, r.subscriber, r.inside_port, r.remote, r.remote_port)
}

/// The standby's copy of the active.
#[derive(Clone, Debug, Default)]
pub struct Mirror {
    /// Blocks held by the active, by (public address, first port).
    pub blocks: BTreeMap<(Ipv4Addr, u16), BlockRecord>,
    /// Sessions, with when they were last restated.
    pub sessions: HashMap<SessionId, (SessionRecord, Instant)>,
    /// The active's run and next log sequence number.
    pub cursor: Option<(u64, u64)>,
}

impl Mirror {
    /// Applies one record received at `now`.
    pub fn apply(&mut self, r: &Record, now: Instant) {
        match r {
            Record::BlockAllocated(b) => {
                self.blocks.insert((b.public, b.first_port), *b);
            }
            Record::BlockReleased(b) => {
                self.blocks.remove(&(b.public, b.first_port));
            }
            Record::LogCursor { run, next_seq } => self.cursor = Some((*run, *next_seq)),
            Record::SessionUp(s) => {
                self.sessions.insert(session_id(s), (*s, now));
            }
            Record::SessionDown(s) => {
                self.sessions.remove(&session_id(s));
            }
        }
    }

    /// Drops the sessions not restated within `max_age_us(record)` (the
    /// active restates every live session once per refresh period: one
    /// not restated for its idle timeout plus two periods is gone there).
    pub fn prune(&mut self, now: Instant, max_age_us: impl Fn(&SessionRecord) -> u64) -> usize {
        let before = self.sessions.len();
        self.sessions
            .retain(|_, (r, seen)| now.as_micros().saturating_sub(seen.as_micros()) <= max_age_us(r));
        before - self.sessions.len()
    }

    /// The sessions to adopt, outbound ones first (an inbound session
    /// joins the mapping an outbound one made).
    pub fn sessions_to_adopt(&self) -> Vec<SessionRecord> {
        let mut v: Vec<SessionRecord> = self.sessions.values().map(|(r, _)| *r).collect();
        v.sort_by_key(|r| (r.flags & cgnat_core::wire::ha::SESSION_INBOUND, r.subscriber, r.inside_port));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(port: u16, state: u8) -> SessionRecord {
        SessionRecord {
            protocol: 6,
            state,
            flags: 0,
            subscriber: Ipv4Addr::new(100, 64, 0, 1),
            inside_port: port,
            public: Ipv4Addr::new(203, 0, 113, 1),
            public_port: port,
            remote: Ipv4Addr::new(198, 51, 100, 1),
            remote_port: 443,
            last_seen_us: 0,
        }
    }

    #[test]
    fn sessions_not_restated_leave_after_their_own_timeout() {
        let mut m = Mirror::default();
        let t0 = Instant::from_secs(1000);
        m.apply(&Record::SessionUp(rec(1, 1)), t0);
        m.apply(&Record::SessionUp(rec(2, 2)), t0);
        // Port 1's record says it would stay 100 s, port 2's 10 s.
        let age = |r: &SessionRecord| if r.state == 1 { 100_000_000 } else { 10_000_000 };
        assert_eq!(m.prune(Instant::from_secs(1005), age), 0);
        assert_eq!(m.prune(Instant::from_secs(1011), age), 1);
        assert!(m.sessions.contains_key(&session_id(&rec(1, 1))));
        // A restatement restarts the clock; a SessionDown removes at once.
        m.apply(&Record::SessionUp(rec(1, 1)), Instant::from_secs(1090));
        assert_eq!(m.prune(Instant::from_secs(1150), age), 0);
        m.apply(&Record::SessionDown(rec(1, 1)), Instant::from_secs(1151));
        assert!(m.sessions.is_empty());
    }
}
