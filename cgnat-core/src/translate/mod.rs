//! The translator: [`Nat`] holds the state every worker shares, a
//! [`Worker`] translates packets in place, and the [`crate::sweeper`]
//! expires what is idle.

mod fast;
mod ha;
mod icmp_error;
mod inbound;
mod nat;
mod outbound;
mod pcp;
mod prepared;
mod refresh;
mod rewrite;
mod runtime;
mod worker;

pub use ha::{entry_record, session_record, AdoptError};
pub use nat::{Nat, PublicOwner, Runtime};
pub use pcp::{PcpGrant, PcpRefusal};
pub use prepared::{Prepared, RxChecksum};
pub use worker::Worker;

use crate::counters::DropReason;
use crate::flow::Side;

/// What the data plane must do with a packet after [`Worker::process`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send the (translated or bypassed) packet out of this side.
    Forward(Side),
    /// The packet is too big for the egress MTU and may be fragmented
    /// (DF clear): fragment it to `mtu` bytes (see
    /// `wire::ipv4::emit_fragment`) and send the fragments out of `side`.
    Fragment {
        /// Egress side.
        side: Side,
        /// Egress MTU.
        mtu: u16,
    },
    /// Drop the packet; the reason is already counted.
    Drop(DropReason),
    /// Drop the packet and answer its source with an ICMP error (built with
    /// `wire::icmp::emit_error` from the packet, which is left untranslated)
    /// sent back out of the side it came from. The reason is counted.
    IcmpError {
        /// Why the packet was dropped.
        reason: DropReason,
        /// ICMP type (3 unreachable, 11 time exceeded).
        icmp_type: u8,
        /// ICMP code.
        code: u8,
        /// Next-hop MTU for "fragmentation needed" (RFC 1191), else 0.
        mtu: u16,
    },
    /// Addressed to the appliance itself (an echo request to a pool
    /// address): answer it (`wire::icmp::echo_reply_in_place`).
    Local,
    /// Translated, but its port's block waits for its allocation record to
    /// be durable (the NAT log rule): hold the packet (bounded, like a
    /// packet waiting for ARP) until `Nat::pool().is_pending(block)` is
    /// false, then send it out of `side` (fragmented to `mtu` if non-zero).
    HoldUntilLogged {
        /// Egress side.
        side: Side,
        /// Egress MTU to fragment to, 0 if the packet fits.
        mtu: u16,
        /// The block whose record it waits for.
        block: u32,
    },
    /// A non-first fragment whose first fragment has not been seen: hold it
    /// in a `frag::FragmentStash` under the key given by
    /// [`Worker::held_fragment_key`] until [`Worker::take_resolved_fragment`]
    /// names its datagram.
    Hold,
}
