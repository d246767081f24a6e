//! The Internet checksum: full computation (RFC 1071) and incremental
//! update (RFC 1624).
//!
//! RFC 1071 §1: "Adjacent octets to be checksummed are paired to form 16-bit
//! integers, and the 1's complement sum of these 16-bit integers is formed.
//! [...] To generate a checksum, the checksum field itself is cleared, the
//! 16-bit 1's complement sum is computed over the octets concerned, and the
//! 1's complement of this sum is placed in the checksum field. To check a
//! checksum, the 1's complement sum is computed over the same set of octets,
//! including the checksum field. If the result is all 1 bits (-0 in 1's
//! complement arithmetic), the check succeeds."
//!
//! A full checksum is `finish(sum(bytes) + other partial sums)`; a check is
//! `fold(sum(bytes_including_checksum) + ...) == 0xFFFF`.
//!
//! A NAT rewrites addresses and ports, so it updates checksums
//! incrementally with [`update16`] / [`update32`] (RFC 1624 eqn. 3) instead
//! of summing the whole packet again. UDP needs the variants
//! [`update16_udp`] / [`update32_udp`] because of the "no checksum" value 0
//! (RFC 768).

use core::net::Ipv4Addr;

/// One's complement partial sum of `data` (RFC 1071 §4.1).
///
/// The bytes are taken as big-endian 16-bit words; an odd trailing byte is
/// padded on the right with a zero byte (RFC 1071 §4.1: "Add left-over byte,
/// if any"). The result is already folded into `0..=0xFFFF`, so up to 65 537
/// partial sums (of other buffers, of [`pseudo_header_v4`]) can be added in
/// a `u32` before [`fold`] or [`finish`]. Partial sums may only be added if
/// every buffer but the last has an even length (RFC 1071 §2(A)).
///
/// It adds 32-bit words into a 64-bit accumulator, which is valid by the
/// byte-order independence and parallel summation properties of RFC 1071
/// §2(B) and §2(C), and folds once at the end (RFC 1071 §2(D) "deferred
/// carries").
#[inline]
pub fn sum(data: &[u8]) -> u32 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let hi = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        let lo = u32::from_be_bytes([c[4], c[5], c[6], c[7]]);
        // 2^32 additions of < 2^33 each cannot overflow a u64 for any buffer
        // that fits in memory (that would need 32 GiB).
        acc += u64::from(hi) + u64::from(lo);
    }
    let mut rest = chunks.remainder().chunks_exact(2);
    for c in &mut rest {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = rest.remainder() {
        acc += u64::from(*last) << 8;
    }
    // 2^32 ≡ 2^16 ≡ 1 (mod 0xFFFF): end-around carry folding keeps the value
    // of the sum in one's complement arithmetic.
    acc = (acc >> 32) + (acc & 0xFFFF_FFFF);
    acc = (acc >> 16) + (acc & 0xFFFF);
    acc = (acc >> 16) + (acc & 0xFFFF);
    acc = (acc >> 16) + (acc & 0xFFFF);
    acc as u32
}

/// Whether a 20-byte header (an IPv4 header without options, checksum
/// included) sums to -0, i.e. its checksum is correct. The five 32-bit
/// words are added in the machine's byte order: RFC 1071 §2(B) "Byte Order
/// Independence" makes the folded sum of the swapped words the swapped sum,
/// and the all-ones result this checks for is the same in either order, so
/// no byte swaps are needed.
///
/// No folding either: one's complement addition of 16-bit words is
/// addition modulo 0xFFFF (RFC 1071 §2(A), the end-around carry), a 32-bit
/// word `hi·2^16 + lo` is `hi + lo` modulo 0xFFFF (2^16 ≡ 1), and a byte
/// swap multiplies by 2^8, which is invertible modulo 0xFFFF. So the header
/// sums to -0 exactly when the plain sum of its words is a non-zero
/// multiple of 0xFFFF (zero only for an all-zero header, which is not a
/// correct one: its one's complement sum is +0). The remainder by a
/// constant compiles to a multiplication.
#[inline(always)]
pub fn verifies_20(header: &[u8; 20]) -> bool {
    let word = |i: usize| u64::from(u32::from_ne_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]));
    let acc = word(0) + word(4) + word(8) + word(12) + word(16);
    acc % 0xFFFF == 0 && acc != 0
}

/// Folds the carries of a 32-bit partial sum into 16 bits (RFC 1071 §4.1
/// "Fold 32-bit sum to 16 bits"). The result is *not* complemented: a
/// packet whose checksum is correct folds to `0xFFFF`.
///
/// Computed as the high half of `sum + sum.rotate_left(16)`: that is
/// `t + (t >> 16)` modulo 2^16 with `t = hi + lo`, the end-around carry
/// done once, which is all a sum of two 16-bit halves needs (`t` is at most
/// 0x1FFFE, so the result never carries again). Three instructions instead
/// of two rounds of shift, mask and add.
#[inline(always)]
pub fn fold(sum: u32) -> u16 {
    (sum.wrapping_add(sum.rotate_left(16)) >> 16) as u16
}

/// The value to put in a checksum field: `!fold(sum)` (RFC 1071 §1).
#[inline]
pub fn finish(sum: u32) -> u16 {
    !fold(sum)
}

/// Partial sum of the TCP/UDP IPv4 pseudo-header (RFC 768 "Fields",
/// RFC 9293 §3.1 "Checksum"):
///
/// ```text
///  +--------+--------+--------+--------+
///  |           Source Address          |
///  +--------+--------+--------+--------+
///  |         Destination Address       |
///  +--------+--------+--------+--------+
///  |  zero  |  PTCL  |    TCP Length   |
///  +--------+--------+--------+--------+
/// ```
///
/// `length` is the length of the TCP segment (header + data) or the UDP
/// length field. The result is at most `6 * 0xFFFF`.
#[inline]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u32 {
    let s = u32::from(src);
    let d = u32::from(dst);
    (s >> 16) + (s & 0xFFFF) + (d >> 16) + (d & 0xFFFF) + u32::from(protocol) + u32::from(length)
}

/// Incremental checksum update for one 16-bit field changing from `old` to
/// `new` (RFC 1624 §3, eqn. 3):
///
/// ```text
/// HC' = ~(~HC + ~m + m')
/// ```
///
/// Corner cases (RFC 1624 §3 and §5):
///
/// - Eqn. 3 is used rather than RFC 1141's `HC' = HC + m + ~m'` (eqn. 2),
///   which yields `0xFFFF` (-0) where a full recomputation yields `0x0000`
///   (RFC 1624 §3 example: `m = 0x5555 -> m' = 0x3285` with the rest
///   summing to `0xCD7A`). A checksum of data that is not all zeros can
///   never be `0xFFFF` when computed from scratch, and eqn. 3 never produces
///   `0xFFFF` from a stored checksum other than `0xFFFF`, so the result
///   equals a full recomputation bit for bit (but see the next point).
/// - The one exception: if every byte covered by the checksum is zero after
///   the update, the correct checksum is `!0 = 0xFFFF` but eqn. 3 gives
///   `0x0000`. That cannot happen for IPv4, TCP or UDP (version and protocol
///   fields are never zero) but can for ICMP: an echo reply (type 0, code 0)
///   rewritten to identifier 0 and sequence 0 with an all-zero payload.
///   [`crate::wire::icmp::Packet::rewrite_echo_ident`] handles it by
///   recomputing when the update yields `0x0000`.
/// - If the stored checksum is `0xFFFF` (produced from scratch only for
///   all-zero data; otherwise equivalent to `0x0000` for verification), an
///   update with `old == new` turns it into `0x0000`: equivalent in one's
///   complement, so the packet still verifies.
/// - A wrong checksum stays wrong by the same amount: an incremental update
///   never hides corruption the way a full recomputation would.
/// - For UDP, use [`update16_udp`]: 0 there means "no checksum" (RFC 768).
/// - A field at an odd byte offset from the start of the checksummed data
///   straddles two 16-bit words; pass `old.swap_bytes()` and
///   `new.swap_bytes()` then (RFC 1071 §2(B), byte order independence).
#[inline]
pub fn update16(checksum: u16, old: u16, new: u16) -> u16 {
    apply_delta(checksum, delta16(old, new))
}

/// Incremental checksum update for a 32-bit field (an IPv4 address) changing
/// from `old` to `new`: RFC 1624 eqn. 3 applied to both 16-bit halves at
/// once. The corner cases of [`update16`] apply.
#[inline]
pub fn update32(checksum: u16, old: u32, new: u32) -> u16 {
    apply_delta(checksum, delta32(old, new))
}

/// The `~m + m'` term of RFC 1624 eqn. 3 for a 16-bit field changing from
/// `old` to `new`, unfolded. Deltas of several fields (and of the same
/// field in two checksums, e.g. an address in the IPv4 header and in the
/// TCP/UDP pseudo-header) add up, and [`apply_delta`] folds them once: one's
/// complement addition is associative, so the result equals the separate
/// updates. At most 0x1FFFE.
#[inline(always)]
pub fn delta16(old: u16, new: u16) -> u32 {
    u32::from(!old) + u32::from(new)
}

/// [`delta16`] for a 32-bit field (both 16-bit halves). At most 0x3FFFC.
#[inline(always)]
pub fn delta32(old: u32, new: u32) -> u32 {
    let not_old = !old;
    (not_old >> 16) + (not_old & 0xFFFF) + (new >> 16) + (new & 0xFFFF)
}

/// RFC 1624 eqn. 3, `HC' = ~(~HC + delta)`, for a sum of [`delta16`] /
/// [`delta32`] terms below 2^32 - 2^16 (thousands of fields). The corner
/// cases of [`update16`] apply.
#[inline(always)]
pub fn apply_delta(checksum: u16, delta: u32) -> u16 {
    !fold(u32::from(!checksum) + delta)
}

/// Maps a computed UDP checksum to the value that is transmitted: RFC 768
/// "If the computed checksum is zero, it is transmitted as all ones (the
/// equivalent in one's complement arithmetic)."
#[inline]
pub fn udp_transmitted(checksum: u16) -> u16 {
    if checksum == 0 {
        0xFFFF
    } else {
        checksum
    }
}

/// [`update16`] for a UDP checksum (RFC 768): "An all zero transmitted
/// checksum value means that the transmitter generated no checksum", so a
/// checksum of 0 is left untouched (it is still "no checksum" after the
/// rewrite, which RFC 768 and RFC 1122 §4.1.3.4 allow); a result of 0 is
/// transmitted as `0xFFFF`.
#[inline]
pub fn update16_udp(checksum: u16, old: u16, new: u16) -> u16 {
    if checksum == 0 {
        0
    } else {
        udp_transmitted(update16(checksum, old, new))
    }
}

/// [`update32`] for a UDP checksum; see [`update16_udp`].
#[inline]
pub fn update32_udp(checksum: u16, old: u32, new: u32) -> u16 {
    if checksum == 0 {
        0
    } else {
        udp_transmitted(update32(checksum, old, new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The byte-order-independent check of a 20-byte header agrees
        /// with the big-endian sum (RFC 1071 §2(B)) on any header, and
        /// accepts every header whose checksum field was filled by it.
        #[test]
        fn verifies_20_agrees_with_the_big_endian_sum(mut h in any::<[u8; 20]>(), fill in any::<bool>()) {
            if fill {
                h[10] = 0;
                h[11] = 0;
                let c = finish(sum(&h));
                h[10..12].copy_from_slice(&c.to_be_bytes());
                prop_assert!(verifies_20(&h));
            }
            prop_assert_eq!(verifies_20(&h), fold(sum(&h)) == 0xFFFF);
        }
    }

    proptest! {
        /// The rotate-and-add fold is RFC 1071 §4.1's "while (sum>>16)
        /// sum = (sum & 0xffff) + (sum >> 16)" on every 32-bit sum.
        #[test]
        fn fold_is_the_end_around_carry(sum in any::<u32>()) {
            let mut s = sum;
            while s >> 16 != 0 {
                s = (s & 0xFFFF) + (s >> 16);
            }
            prop_assert_eq!(fold(sum), s as u16);
        }
    }

    /// The edges of the remainder test: an all-zero header sums to +0
    /// (wrong), an all-ones one to -0 (right).
    #[test]
    fn verifies_20_edges() {
        assert!(!verifies_20(&[0; 20]));
        assert_eq!(fold(sum(&[0; 20])), 0);
        assert!(verifies_20(&[0xFF; 20]));
        assert_eq!(fold(sum(&[0xFF; 20])), 0xFFFF);
    }
}
