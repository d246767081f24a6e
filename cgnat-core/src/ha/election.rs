//! Which node of the pair is active (issue 13 items 1 and 3): heartbeats on
//! the sync link, a dead interval, priorities, preempt and planned
//! switchover, as a deterministic state machine driven by `now` and the
//! peer's messages. The rules (`docs/decisions/021-ha-pair.md`):
//!
//! - A node starts in [`Role::Init`] and listens for `dead` before it
//!   chooses: a peer that is active makes it standby; two starting or
//!   standby nodes elect the better (higher priority, then lower sync
//!   address); no peer heard within `dead` makes it active.
//! - A standby whose peer is silent for `dead` becomes active (takeover).
//! - Two active nodes (the sync link healed after a split) keep the better
//!   one active; the other turns standby and is bulk-synced.
//! - A better standby with `preempt` that is in sync gets the active role
//!   by a planned switchover; without preempt a recovered node stays
//!   standby.
//! - Planned switchover: the active turns standby at once (it stops
//!   translating) and sends [`Kind::Handover`] until the peer is active.
//! - Split brain (the sync link down, both nodes up): a node that is not
//!   active and no longer hears its peer on the sync link probes the
//!   inside segment for the shared address (an RFC 5227 ARP probe, which
//!   no neighbour caches); while the peer answers there
//!   ([`Election::on_segment_seen`]) the peer is alive and this node does
//!   not take over, whatever the sync link says.

use core::net::Ipv4Addr;

use crate::time::Instant;
use crate::wire::ha::{Header, Kind, Role, FLAG_IN_SYNC, FLAG_PREEMPT};

/// Settings of the election.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ElectionSettings {
    /// This node's priority (higher wins).
    pub priority: u8,
    /// This node's sync address (the tie-breaker: lower wins).
    pub address: Ipv4Addr,
    /// The peer's sync address.
    pub peer_address: Ipv4Addr,
    /// A peer unheard for this long is dead, microseconds.
    pub dead_us: u64,
    /// Take the active role back when better and in sync.
    pub preempt: bool,
}

/// A change of role, for the owner to act on (start or stop translating,
/// gratuitous ARP, log a takeover record).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Became active: `takeover` when the peer was active and went silent
    /// (the owner logs a takeover record and announces the addresses).
    Active {
        /// The previous active failed (rather than start-up or handover).
        takeover: bool,
    },
    /// Became standby (the owner stops translating and waits for a bulk
    /// sync).
    Standby,
}

#[derive(Copy, Clone, Debug)]
struct Peer {
    role: Role,
    priority: u8,
    in_sync: bool,
    preempt: bool,
    last_heard: Instant,
}

/// The role state machine of one node.
pub struct Election {
    s: ElectionSettings,
    role: Role,
    started: Instant,
    peer: Option<Peer>,
    handing_over: bool,
    transitions: u64,
    /// When the peer last answered on the inside segment.
    segment: Option<Instant>,
    /// A better, in-sync standby with preempt asked for the role: the
    /// owner drains its sync stream, then calls [`Election::switchover`].
    preempt_wanted: bool,
    /// Two actives met and this one stayed: the owner announces its
    /// addresses again (the other's gratuitous ARP pointed the neighbours
    /// at the other).
    reannounce: bool,
}

impl Election {
    /// A node starting at `now`, in [`Role::Init`].
    pub fn new(s: ElectionSettings, now: Instant) -> Self {
        Election {
            s,
            role: Role::Init,
            started: now,
            peer: None,
            handing_over: false,
            transitions: 0,
            segment: None,
            preempt_wanted: false,
            reannounce: false,
        }
    }

    fn better_than_peer(&self, peer_priority: u8) -> bool {
        (self.s.priority, core::cmp::Reverse(self.s.address)) > (peer_priority, core::cmp::Reverse(self.s.peer_address))
    }

    fn become_(&mut self, role: Role, takeover: bool) -> Option<Transition> {
        if self.role == role {
            return None;
        }
        self.role = role;
        self.transitions += 1;
        Some(match role {
            Role::Active => {
                self.handing_over = false;
                Transition::Active { takeover }
            }
            _ => Transition::Standby,
        })
    }

    fn peer_alive(&self, now: Instant) -> bool {
        self.peer
            .is_some_and(|p| now.as_micros().saturating_sub(p.last_heard.as_micros()) < self.s.dead_us)
    }

    /// A message from the peer (any kind): it is alive, in the role it
    /// states.
    pub fn on_peer(&mut self, now: Instant, h: &Header) -> Option<Transition> {
        self.peer = Some(Peer {
            role: h.role,
            priority: h.priority,
            in_sync: h.flags & FLAG_IN_SYNC != 0,
            preempt: h.flags & FLAG_PREEMPT != 0,
            last_heard: now,
        });
        if h.role == Role::Active {
            // A handover is complete once the peer says it is active.
            self.handing_over = false;
        }
        if h.kind == Kind::Handover && self.role != Role::Active {
            return self.become_(Role::Active, false);
        }
        match (self.role, h.role) {
            (Role::Init, Role::Active) => self.become_(Role::Standby, false),
            (Role::Init | Role::Standby, Role::Init | Role::Standby) => {
                if self.handing_over {
                    // We gave the role away: wait for the peer to take it.
                    return None;
                }
                let role = if self.better_than_peer(h.priority) {
                    Role::Active
                } else {
                    Role::Standby
                };
                self.become_(role, false)
            }
            (Role::Active, Role::Active) => {
                // Split brain healed: the better node stays active.
                if self.better_than_peer(h.priority) {
                    self.reannounce = true;
                    None
                } else {
                    self.become_(Role::Standby, false)
                }
            }
            (Role::Active, Role::Standby) => {
                // Preempt: a better, synced standby that asks for it.
                let p = self.peer.expect("just set");
                if p.preempt && p.in_sync && !self.better_than_peer(p.priority) {
                    self.preempt_wanted = true;
                }
                None
            }
            _ => None,
        }
    }

    /// The peer answered for the shared address on the inside segment at
    /// `at` (the answer to a probe): it is alive even if the sync link is
    /// silent.
    pub fn on_segment_seen(&mut self, at: Instant) {
        self.segment = Some(self.segment.map_or(at, |s| s.max(at)));
    }

    /// Whether a better, in-sync standby with preempt wants the role (the
    /// owner then hands it over as in a planned switchover); cleared by
    /// the call.
    pub fn take_preempt(&mut self) -> bool {
        std::mem::take(&mut self.preempt_wanted)
    }

    /// Whether the addresses must be announced again (this node stayed
    /// active when two met); cleared by the call.
    pub fn take_reannounce(&mut self) -> bool {
        std::mem::take(&mut self.reannounce)
    }

    /// Whether a planned switchover may start now (see
    /// [`Election::switchover`]), without changing anything.
    pub fn can_switchover(&self, now: Instant) -> Result<(), &'static str> {
        if self.role != Role::Active {
            return Err("this node is not active");
        }
        match self.peer {
            Some(p) if self.peer_alive(now) && p.role == Role::Standby && p.in_sync => Ok(()),
            Some(_) if self.peer_alive(now) => Err("the peer is not an in-sync standby yet"),
            _ => Err("the peer is not alive"),
        }
    }

    /// Whether the peer answered on the inside segment within `dead`.
    pub fn segment_alive(&self, now: Instant) -> bool {
        self.segment
            .is_some_and(|t| now.as_micros().saturating_sub(t.as_micros()) < self.s.dead_us)
    }

    /// Whether the owner should probe the inside segment now: not active,
    /// and the sync link silent for a quarter of `dead` (so that a live
    /// peer has answered several probes before `dead` runs out).
    pub fn probing(&self, now: Instant) -> bool {
        if self.role == Role::Active {
            return false;
        }
        let silent_since = self.peer.map(|p| p.last_heard).unwrap_or(self.started);
        now.as_micros().saturating_sub(silent_since.as_micros()) >= self.s.dead_us / 4
    }

    /// Time passes: a peer silent on the sync link and on the inside
    /// segment is dead after `dead`.
    pub fn tick(&mut self, now: Instant) -> Option<Transition> {
        if self.segment_alive(now) {
            // The sync link is down, not the peer: no second active.
            return None;
        }
        match self.role {
            Role::Init => {
                let waited = now.as_micros().saturating_sub(self.started.as_micros());
                if waited >= self.s.dead_us && !self.peer_alive(now) {
                    return self.become_(Role::Active, false);
                }
                None
            }
            Role::Standby if !self.peer_alive(now) => {
                let takeover = self.peer.is_some_and(|p| p.role == Role::Active);
                self.handing_over = false;
                self.become_(Role::Active, takeover)
            }
            _ => None,
        }
    }

    /// A planned switchover (operator command or maintenance): only from
    /// the active, only to a live standby that is in sync. Returns the
    /// transition (to standby) or why not.
    pub fn switchover(&mut self, now: Instant) -> Result<Transition, &'static str> {
        if self.role != Role::Active {
            return Err("this node is not active");
        }
        match self.peer {
            Some(p) if self.peer_alive(now) && p.role == Role::Standby && p.in_sync => {
                self.handing_over = true;
                self.become_(Role::Standby, false).ok_or("already standby")
            }
            Some(_) if self.peer_alive(now) => Err("the peer is not an in-sync standby yet"),
            _ => Err("the peer is not alive"),
        }
    }

    /// The kind of message to send as heartbeat: [`Kind::Handover`] while
    /// handing the role to the peer, [`Kind::Heartbeat`] otherwise.
    pub fn heartbeat_kind(&self) -> Kind {
        if self.handing_over && self.role != Role::Active {
            Kind::Handover
        } else {
            Kind::Heartbeat
        }
    }

    /// This node's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The peer's last stated role, if heard within `dead`.
    pub fn peer_role(&self, now: Instant) -> Option<Role> {
        self.peer.filter(|_| self.peer_alive(now)).map(|p| p.role)
    }

    /// Microseconds since the peer was last heard (`None`: never).
    pub fn peer_silence_us(&self, now: Instant) -> Option<u64> {
        self.peer.map(|p| now.as_micros().saturating_sub(p.last_heard.as_micros()))
    }

    /// Role changes so far.
    pub fn transitions(&self) -> u64 {
        self.transitions
    }

    /// The settings.
    pub fn settings(&self) -> &ElectionSettings {
        &self.s
    }
}
