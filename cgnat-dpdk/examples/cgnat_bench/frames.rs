//! Frames of the benchmark: flows, checksums, building and reading 64-byte UDP/TCP frames.

use super::*;

/// One flow: subscriber address and port, remote address.
#[inline]
pub(crate) fn flow(i: u32, subs: u32) -> (u32, u16, u32) {
    let s = i % subs;
    let f = i / subs;
    let src = u32::from(Ipv4Addr::new(100, 64, 0, 0)) + s;
    let sport = 10_000 + f as u16;
    let dst = u32::from(Ipv4Addr::new(8, 8, 0, 0)) + (s.wrapping_mul(7919).wrapping_add(f)) % 65_536;
    (src, sport, dst)
}

#[inline]
pub(crate) fn sum16(d: &[u8], mut acc: u32) -> u32 {
    let mut c = d.chunks_exact(2);
    for w in &mut c {
        acc += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [b] = c.remainder() {
        acc += u32::from(*b) << 8;
    }
    acc
}

#[inline]
pub(crate) fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

pub(crate) const TCP_SYN: u8 = 0x02;
pub(crate) const TCP_ACK: u8 = 0x10;

/// Writes a 60-byte frame `src:sport -> dst:dport` to `f`, carrying `tag`
/// (the flow index) in the UDP payload or the TCP sequence number.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(crate) fn build(
    f: &mut [u8],
    dmac: [u8; 6],
    proto: Proto,
    src: u32,
    sport: u16,
    dst: u32,
    dport: u16,
    tag: u32,
    tcp_flags: u8,
    ack: u32,
) {
    f[0..6].copy_from_slice(&dmac);
    f[6..12].copy_from_slice(&PEER_MAC);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip = &mut f[L3..];
    ip[..20].copy_from_slice(&[0x45, 0, 0, 46, 0, 1, 0x40, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    ip[9] = if proto == Proto::Udp { 17 } else { 6 };
    ip[12..16].copy_from_slice(&src.to_be_bytes());
    ip[16..20].copy_from_slice(&dst.to_be_bytes());
    let c = fold(sum16(&ip[..20], 0));
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let l4 = &mut f[L4..FRAME];
    l4[0..2].copy_from_slice(&sport.to_be_bytes());
    l4[2..4].copy_from_slice(&dport.to_be_bytes());
    let ck = match proto {
        Proto::Udp => {
            l4[4..6].copy_from_slice(&26u16.to_be_bytes());
            l4[6..8].copy_from_slice(&[0, 0]);
            l4[8..12].copy_from_slice(&tag.to_be_bytes());
            l4[12..26].fill(0x5a);
            6
        }
        Proto::Tcp => {
            l4[4..8].copy_from_slice(&tag.to_be_bytes());
            l4[8..12].copy_from_slice(&ack.to_be_bytes());
            l4[12] = 0x50;
            l4[13] = tcp_flags;
            l4[14..16].copy_from_slice(&65535u16.to_be_bytes());
            l4[16..20].fill(0);
            l4[20..26].fill(0x5a);
            16
        }
    };
    let pseudo = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + u32::from(f[L3 + 9]) + 26;
    let mut c = fold(sum16(&f[L4..FRAME], pseudo));
    if c == 0 && proto == Proto::Udp {
        c = 0xffff;
    }
    f[L4 + ck..L4 + ck + 2].copy_from_slice(&c.to_be_bytes());
}

/// The tag of a translated frame (flow index), and its source and
/// destination endpoints.
#[inline]
pub(crate) fn parse_out(f: &[u8], proto: Proto) -> (u32, u32, u16, u32, u16) {
    let be32 = |o: usize| u32::from_be_bytes([f[o], f[o + 1], f[o + 2], f[o + 3]]);
    let be16 = |o: usize| u16::from_be_bytes([f[o], f[o + 1]]);
    let tag = if proto == Proto::Udp { be32(L4 + 8) } else { be32(L4 + 4) };
    (tag, be32(L3 + 12), be16(L4), be32(L3 + 16), be16(L4 + 2))
}
