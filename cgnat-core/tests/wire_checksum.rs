//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624),
//! checked against the RFC examples and against a naive reference
//! implementation written the way RFC 1071 §4.1 states it.

use std::net::Ipv4Addr;

use cgnat_core::wire::checksum::{finish, fold, pseudo_header_v4, sum, udp_transmitted, update16, update16_udp, update32, update32_udp};
use proptest::prelude::*;

/// RFC 1071 §4.1, literally: add 16-bit big-endian words into a 32-bit
/// accumulator, add the left-over byte, fold the carries, complement.
fn reference_checksum(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        acc += u64::from(*b) << 8;
    }
    while acc >> 16 != 0 {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    !(acc as u16)
}

/// RFC 1071 §3 "Numerical Examples": the bytes 00 01 f2 03 f4 f5 f6 f7
/// sum to 2ddf0, which folds to ddf2.
#[test]
fn rfc1071_numerical_example_sums_to_ddf2() {
    let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
    assert_eq!(fold(sum(&data)), 0xddf2);
    assert_eq!(finish(sum(&data)), !0xddf2);
}

/// RFC 1071 §4.1: "Add left-over byte, if any" — an odd trailing byte is
/// the high byte of a word whose low byte is zero.
#[test]
fn rfc1071_odd_length_pads_last_byte_on_the_right() {
    assert_eq!(sum(&[0xAB]), 0xAB00);
    assert_eq!(sum(&[0x12, 0x34, 0xAB]), 0x1234 + 0xAB00);
}

#[test]
fn empty_data_sums_to_zero() {
    assert_eq!(sum(&[]), 0);
    assert_eq!(finish(0), 0xFFFF);
}

#[test]
fn fold_handles_double_carry() {
    // 0xFFFF + 0xFFFF = 0x1FFFE -> 0xFFFF; 0xFFFF_FFFF -> 0xFFFF.
    assert_eq!(fold(0x1FFFE), 0xFFFF);
    assert_eq!(fold(0xFFFF_FFFF), 0xFFFF);
    assert_eq!(fold(0x0001_0000), 0x0001);
}

#[test]
fn sum_of_large_buffer_does_not_overflow() {
    // 1 MiB of 0xFF: every word is -0, so the sum is -0.
    let data = vec![0xFF; 1 << 20];
    assert_eq!(fold(sum(&data)), 0xFFFF);
    assert_eq!(finish(sum(&data)), reference_checksum(&data));
}

/// RFC 768 / RFC 9293 pseudo-header: source, destination, zero+protocol,
/// length.
#[test]
fn pseudo_header_is_the_sum_of_its_words() {
    let s = pseudo_header_v4(Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(198, 51, 100, 2), 17, 0x1234);
    let words = [0xC000, 0x0201, 0xC633, 0x6402, 0x0011, 0x1234];
    assert_eq!(fold(s), fold(words.iter().sum()));
}

/// RFC 1624 §3: "Consider an IP packet header in which a 16-bit field
/// m = 0x5555 changes to m' = 0x3285. Also, the one's complement sum of all
/// other header octets is 0xCD7A. [...] The new checksum via recomputation
/// is HC' = ~(0xCD7A + 0x3285) = ~0xFFFF = 0x0000. Using (eqn. 2), as
/// specified in RFC 1141, the new checksum is [...] 0xFFFF which does not
/// match that computed from scratch". Eqn. 3 gives 0x0000.
#[test]
fn rfc1624_section3_example_gives_0x0000_not_0xffff() {
    let hc = !fold(0xCD7A + 0x5555);
    assert_eq!(hc, 0xDD2F);
    assert_eq!(update16(hc, 0x5555, 0x3285), 0x0000);
}

/// RFC 1624 §4 example: decrementing TTL from 0x40 changes the word
/// TTL|Protocol; the incremental result equals the full recomputation.
#[test]
fn rfc1624_ttl_decrement_matches_full_recompute() {
    let mut header = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];
    assert_eq!(fold(sum(&header)), 0xFFFF, "fixture checksum is valid");
    let old = u16::from_be_bytes([header[8], header[9]]);
    header[8] -= 1;
    let new = u16::from_be_bytes([header[8], header[9]]);
    let incremental = update16(0xb861, old, new);
    header[10] = 0;
    header[11] = 0;
    assert_eq!(incremental, finish(sum(&header)));
}

/// The one case where eqn. 3 and a full recomputation differ: data that
/// becomes all zeros must carry checksum 0xFFFF (RFC 1071: the complement
/// of a zero sum) while eqn. 3 yields 0x0000 (see `checksum::update16`).
#[test]
fn rfc1624_eqn3_corner_case_all_zero_data() {
    // An ICMP echo reply header with identifier 0x0001 becoming 0.
    let data = [0, 0, 0, 0, 0x00, 0x01, 0, 0];
    let hc = reference_checksum(&data);
    assert_eq!(update16(hc, 0x0001, 0x0000), 0x0000);
    assert_eq!(reference_checksum(&[0u8; 8]), 0xFFFF);
}

/// RFC 768: "An all zero transmitted checksum value means that the
/// transmitter generated no checksum" — an update leaves it alone.
#[test]
fn rfc768_zero_udp_checksum_is_left_untouched_by_updates() {
    assert_eq!(update16_udp(0, 1234, 4321), 0);
    assert_eq!(update32_udp(0, 0x6440_000A, 0xC633_6407), 0);
}

/// RFC 768: "If the computed checksum is zero, it is transmitted as all
/// ones". The RFC 1624 §3 example yields 0x0000; for UDP it is 0xFFFF.
#[test]
fn rfc768_udp_update_yielding_zero_transmits_all_ones() {
    let hc = 0xDD2F;
    assert_eq!(update16(hc, 0x5555, 0x3285), 0x0000);
    assert_eq!(update16_udp(hc, 0x5555, 0x3285), 0xFFFF);
    assert_eq!(udp_transmitted(0), 0xFFFF);
    assert_eq!(udp_transmitted(0x1234), 0x1234);
}

/// A field at an odd offset: the byte-swapped values give the right update
/// (RFC 1071 §2(B) byte order independence).
#[test]
fn rfc1071_odd_offset_update_uses_swapped_bytes() {
    let mut data = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
    let hc = reference_checksum(&data);
    // Field at offset 3..5 changes from 0x4455 to 0xABCD.
    data[3] = 0xAB;
    data[4] = 0xCD;
    let updated = update16(hc, 0x4455u16.swap_bytes(), 0xABCDu16.swap_bytes());
    assert_eq!(updated, reference_checksum(&data));
}

fn even_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    (1..max / 2).prop_flat_map(|n| proptest::collection::vec(any::<u8>(), n * 2))
}

proptest! {
    #[test]
    fn sum_matches_rfc1071_reference(data in proptest::collection::vec(any::<u8>(), 0..3000)) {
        prop_assert_eq!(finish(sum(&data)), reference_checksum(&data));
    }

    /// RFC 1071 §2(A): partial sums of even-length pieces add up.
    #[test]
    fn rfc1071_partial_sums_of_even_pieces_add_up(
        a in even_bytes(200),
        b in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut whole = a.clone();
        whole.extend_from_slice(&b);
        prop_assert_eq!(fold(sum(&a) + sum(&b)), fold(sum(&whole)));
    }

    /// RFC 1624 §3: HC' = ~(~HC + ~m + m') equals a full recomputation,
    /// for any 16-bit word of any data that does not become all zeros.
    #[test]
    fn rfc1624_incremental_update16_matches_full_recompute(
        mut data in even_bytes(400),
        index in any::<prop::sample::Index>(),
        new in any::<u16>(),
    ) {
        let hc = reference_checksum(&data);
        let at = index.index(data.len() / 2) * 2;
        let old = u16::from_be_bytes([data[at], data[at + 1]]);
        data[at..at + 2].copy_from_slice(&new.to_be_bytes());
        prop_assume!(data.iter().any(|&b| b != 0));
        prop_assert_eq!(update16(hc, old, new), reference_checksum(&data));
    }

    /// RFC 1624 eqn. 3 for a 32-bit field (an address) at an even offset.
    #[test]
    fn rfc1624_incremental_update32_matches_full_recompute(
        mut data in even_bytes(400).prop_filter("room for a u32", |d| d.len() >= 4),
        index in any::<prop::sample::Index>(),
        new in any::<u32>(),
    ) {
        let hc = reference_checksum(&data);
        let at = index.index(data.len() / 2 - 1) * 2;
        let old = u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
        data[at..at + 4].copy_from_slice(&new.to_be_bytes());
        prop_assume!(data.iter().any(|&b| b != 0));
        prop_assert_eq!(update32(hc, old, new), reference_checksum(&data));
    }

    /// Successive updates compose: rewriting a field and rewriting it back
    /// gives a checksum that verifies like the original.
    #[test]
    fn rfc1624_update_then_revert_verifies(
        data in even_bytes(100),
        old in any::<u16>(),
        new in any::<u16>(),
    ) {
        let mut data = data;
        data[0..2].copy_from_slice(&old.to_be_bytes());
        prop_assume!(data.iter().any(|&b| b != 0));
        let hc = reference_checksum(&data);
        let back = update16(update16(hc, old, new), new, old);
        // Verification: the data plus the checksum word sums to -0.
        prop_assert_eq!(fold(sum(&data) + u32::from(back)), 0xFFFF);
    }
}
