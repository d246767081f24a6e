//! TCP connection tracking for session timers (RFC 5382 section 5, RFC 7857
//! section 2).
//!
//! The NAT does not validate sequence numbers; it tracks which control
//! flags each side has sent, which is what decides between the two timers
//! RFC 5382 REQ-5 defines: "established" (at least 2 h 4 min) once a SYN has
//! been seen in both directions, and "transitory" (at least 4 min) while the
//! connection is partially open or partially closed, or after a RST
//! (RFC 7857 section 2.2 keeps a reset session for the transitory time
//! rather than deleting it at once, so a lost RST can be retransmitted).

use crate::config::Timeouts;

/// Inside host sent SYN.
pub const SYN_OUT: u8 = 0x01;
/// Remote host sent SYN.
pub const SYN_IN: u8 = 0x02;
/// Inside host sent FIN.
pub const FIN_OUT: u8 = 0x04;
/// Remote host sent FIN.
pub const FIN_IN: u8 = 0x08;
/// Either side sent RST.
pub const RST: u8 = 0x10;
/// Picked up mid-stream (no SYN seen, e.g. after a restart): treated as
/// established so a long-lived connection is not cut, but only once
/// traffic has been seen in both directions (RFC 7857 section 3): a lone
/// ACK from a spoofer cannot hold state for two hours.
pub const MIDSTREAM: u8 = 0x20;

const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_ACK: u8 = 0x10;

/// The tracking bits after a segment with TCP `flags` in direction
/// `outbound` (inside → outside).
#[inline]
pub fn advance(state: u8, outbound: bool, flags: u8) -> u8 {
    let mut s = state;
    if flags & TCP_RST != 0 {
        return s | RST;
    }
    if flags & TCP_SYN != 0 {
        s |= if outbound { SYN_OUT } else { SYN_IN };
        // A new SYN after a RST or a full close starts a new connection
        // (RFC 7857 section 2.2: the 4-tuple may be reused).
        if state & (RST | FIN_OUT | FIN_IN) != 0 && flags & TCP_ACK == 0 {
            s = if outbound { SYN_OUT } else { SYN_IN };
        }
    }
    if flags & TCP_FIN != 0 {
        s |= if outbound { FIN_OUT } else { FIN_IN };
    }
    s
}

/// The tracking bits of a session created by a segment with `flags`.
/// Only a subscriber's own mid-stream segment (after a restart or an
/// expiry) is taken as established; one arriving from outside without a SYN
/// stays transitory, so spraying ACKs at a mapping cannot pin a
/// subscriber's session quota for two hours.
#[inline]
pub fn initial(outbound: bool, flags: u8) -> u8 {
    let base = if outbound && flags & TCP_SYN == 0 && flags & TCP_RST == 0 {
        MIDSTREAM
    } else {
        0
    };
    advance(base, outbound, flags)
}

/// Whether the connection is established (RFC 5382: SYNs seen both ways)
/// and neither closing nor reset.
#[inline]
pub fn is_established(state: u8) -> bool {
    let open = state & (SYN_OUT | SYN_IN) == SYN_OUT | SYN_IN || state & MIDSTREAM != 0;
    open && state & (RST | FIN_OUT | FIN_IN) == 0
}

/// The idle timeout in seconds for a session in `state` (RFC 5382 REQ-5)
/// that has (`two_way`) or has not yet seen packets in both directions: a
/// mid-stream pickup is transitory until it has (RFC 7857 section 3).
#[inline]
pub fn timeout(state: u8, two_way: bool, t: &Timeouts) -> u32 {
    let midstream_only = state & MIDSTREAM != 0 && state & (SYN_OUT | SYN_IN) != SYN_OUT | SYN_IN;
    if is_established(state) && (two_way || !midstream_only) {
        t.tcp_established
    } else {
        t.tcp_transitory
    }
}

/// Every name [`name`] gives (the `sessions --state` filter checks them).
pub const NAMES: &[&str] = &[
    "syn-sent",
    "syn-received",
    "established",
    "midstream",
    "closing",
    "closed",
    "reset",
    "none",
];

/// A short name for the CLI (`syn-sent`, `established`, ...).
pub fn name(state: u8) -> &'static str {
    if state & RST != 0 {
        "reset"
    } else if state & FIN_OUT != 0 && state & FIN_IN != 0 {
        "closed"
    } else if state & (FIN_OUT | FIN_IN) != 0 {
        "closing"
    } else if state & MIDSTREAM != 0 && state & (SYN_OUT | SYN_IN) != SYN_OUT | SYN_IN {
        "midstream"
    } else if is_established(state) {
        "established"
    } else if state & SYN_OUT != 0 {
        "syn-sent"
    } else if state & SYN_IN != 0 {
        "syn-received"
    } else {
        "none"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYN: u8 = TCP_SYN;
    const SYNACK: u8 = TCP_SYN | TCP_ACK;
    const ACK: u8 = TCP_ACK;
    const FIN: u8 = TCP_FIN | TCP_ACK;

    #[test]
    fn rfc5382_req5_three_way_handshake_is_established() {
        // RFC 5382 REQ-5: "The value of the 'established connection idle-timeout'
        // MUST NOT be less than 2 hours 4 minutes" / "transitory ... 4 minutes".
        let t = Timeouts::default();
        let s = initial(true, SYN);
        assert_eq!(timeout(s, false, &t), 240, "partially open is transitory");
        let s = advance(s, false, SYNACK);
        assert!(is_established(s));
        let s = advance(s, true, ACK);
        assert_eq!(timeout(s, true, &t), 7440);
        assert_eq!(name(s), "established");
    }

    #[test]
    fn rfc5382_partially_closed_is_transitory() {
        let t = Timeouts::default();
        let s = advance(advance(initial(true, SYN), false, SYNACK), true, FIN);
        assert_eq!(timeout(s, true, &t), 240);
        assert_eq!(name(s), "closing");
        let s = advance(s, false, FIN);
        assert_eq!(name(s), "closed");
    }

    #[test]
    fn rfc7857_rst_keeps_session_for_transitory_time() {
        // RFC 7857 section 2.2: a NAT SHOULD keep the session for the
        // transitory time after a RST rather than remove it immediately.
        let t = Timeouts::default();
        let s = advance(advance(initial(true, SYN), false, SYNACK), false, TCP_RST);
        assert_eq!(timeout(s, true, &t), 240);
        assert_eq!(name(s), "reset");
        // A fresh SYN reuses the 4-tuple.
        let s = advance(s, true, SYN);
        assert_eq!(s, SYN_OUT);
    }

    #[test]
    fn midstream_pickup_is_established_only_from_inside() {
        assert!(is_established(initial(true, ACK)));
        assert!(!is_established(initial(false, ACK)), "an unsolicited inbound ACK stays transitory");
        assert!(!is_established(initial(false, TCP_RST)));
    }

    /// Issue 9 / RFC 7857 section 3: a session created by a non-SYN segment
    /// gets the transitory timer until traffic was seen in both directions.
    #[test]
    fn rfc7857_midstream_pickup_is_transitory_until_two_way() {
        let t = Timeouts::default();
        let s = initial(true, ACK);
        assert_eq!(name(s), "midstream");
        assert_eq!(timeout(s, false, &t), 240, "a lone ACK holds state for 4 minutes, not 2 hours");
        assert_eq!(timeout(advance(s, false, ACK), true, &t), 7440, "both directions seen");
        // A handshake seen by the NAT is established whatever the flags say.
        let h = advance(advance(initial(true, SYN), false, SYNACK), true, ACK);
        assert_eq!(timeout(h, false, &t), 7440);
    }
}
