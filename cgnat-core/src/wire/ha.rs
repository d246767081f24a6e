//! The HA sync protocol between the two nodes of a pair (issue 13,
//! `docs/decisions/021-ha-pair.md`): one UDP datagram is a 40-byte header
//! and up to [`MAX_RECORDS`] records of 32 bytes, all big-endian.
//!
//! ```text
//!  0               1               2               3
//! +---------------+---------------+---------------+---------------+
//! |                    magic "CGHA"                               |  0
//! | version = 1   | kind          | record count                  |  4
//! |                 incarnation (sender's run id, 64 bits)        |  8
//! |                 sequence (64 bits)                            | 16
//! | role          | priority      | flags         | reserved      | 24
//! |                 reserved (32 bits)                            | 28
//! |                 acknowledged sequence (64 bits)               | 32
//! +---------------------------------------------------------------+
//! | records: 32 bytes each                                        | 40
//! ```
//!
//! Every message carries the sender's role and priority (it doubles as a
//! heartbeat) and the highest sequence it has received in order from the
//! peer (a cumulative acknowledgement). A [`Kind::Data`] message's
//! sequence is its own number; a [`Kind::Resync`] asks the peer to send
//! again from the sequence it names, or (sequence 0) for a bulk sync.
//!
//! A record:
//!
//! ```text
//! | type | protocol | state | flags | subscriber (4) | public (4) |
//! | port a (2) | port b (2) | remote (4) | remote port (2) | 0 (2) |
//! | value (8) |                                       (bytes 0..32)
//! ```
//!
//! A block uses port a..=b as its range and carries its allocation time
//! (in the remote and remote-port bytes as one 64-bit field, bytes 16..24)
//! and its NAT log sequence number (value). A session uses port a as the
//! inside port, port b as the public port and value as its last activity.
//! A log cursor carries the run id (bytes 16..24) and the next sequence
//! number of the legal log (value).

use core::net::Ipv4Addr;

use super::{get_u16, get_u32, set_u16, set_u32, Error, Result};

mod field {
    use crate::wire::Field;

    pub const MAGIC: Field = 0..4;
    pub const VERSION: usize = 4;
    pub const KIND: usize = 5;
    pub const COUNT: Field = 6..8;
    pub const INCARNATION: Field = 8..16;
    pub const SEQUENCE: Field = 16..24;
    pub const ROLE: usize = 24;
    pub const PRIORITY: usize = 25;
    pub const FLAGS: usize = 26;
    pub const ACK: Field = 32..40;

    pub const R_TYPE: usize = 0;
    pub const R_PROTOCOL: usize = 1;
    pub const R_STATE: usize = 2;
    pub const R_FLAGS: usize = 3;
    pub const R_SUBSCRIBER: Field = 4..8;
    pub const R_PUBLIC: Field = 8..12;
    pub const R_PORT_A: Field = 12..14;
    pub const R_PORT_B: Field = 14..16;
    pub const R_REMOTE: Field = 16..20;
    pub const R_REMOTE_PORT: Field = 20..22;
    pub const R_WIDE: Field = 16..24;
    pub const R_VALUE: Field = 24..32;
}

/// The first four bytes of every sync datagram.
pub const MAGIC: [u8; 4] = *b"CGHA";
/// The protocol version this code speaks.
pub const VERSION: u8 = 1;
/// Length of the header.
pub const HEADER_LEN: usize = 40;
/// Length of one record.
pub const RECORD_LEN: usize = 32;
/// Largest datagram: header and records stay under 1400 bytes, so a sync
/// link with a 1500-byte MTU never fragments them.
pub const MAX_DATAGRAM: usize = 1400;
/// Records one datagram carries at most.
pub const MAX_RECORDS: usize = (MAX_DATAGRAM - HEADER_LEN) / RECORD_LEN;

/// Flag: the data message belongs to a bulk sync.
pub const FLAG_BULK: u8 = 0x01;
/// Flag: the first message of a bulk sync (the receiver empties its
/// mirror before applying it).
pub const FLAG_BULK_START: u8 = 0x02;
/// Flag: the last message of a bulk sync (the receiver is in sync after
/// applying it).
pub const FLAG_BULK_END: u8 = 0x04;
/// Flag: the sender's mirror of the peer is complete (a standby in sync).
pub const FLAG_IN_SYNC: u8 = 0x08;
/// Flag: the sender has `ha.preempt` set (it takes the active role back
/// when it is the better node and in sync).
pub const FLAG_PREEMPT: u8 = 0x10;
/// All flags this version defines.
const KNOWN_FLAGS: u8 = FLAG_BULK | FLAG_BULK_START | FLAG_BULK_END | FLAG_IN_SYNC | FLAG_PREEMPT;

fn get_u64(data: &[u8], f: core::ops::Range<usize>) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&data[f]);
    u64::from_be_bytes(b)
}

fn set_u64(data: &mut [u8], f: core::ops::Range<usize>, v: u64) {
    data[f].copy_from_slice(&v.to_be_bytes());
}

fn get_addr(data: &[u8], f: core::ops::Range<usize>) -> Ipv4Addr {
    Ipv4Addr::from(get_u32(data, f))
}

/// What a message is.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// Role, priority and acknowledgement only.
    Heartbeat = 1,
    /// Sequenced records.
    Data = 2,
    /// "Send again from `sequence`" (a gap), or a bulk sync (`sequence` 0).
    Resync = 3,
    /// A planned switchover: the active has stopped translating and hands
    /// the active role to the peer (which acknowledges by turning active).
    Handover = 4,
}

impl Kind {
    fn from_u8(v: u8) -> Option<Kind> {
        Some(match v {
            1 => Kind::Heartbeat,
            2 => Kind::Data,
            3 => Kind::Resync,
            4 => Kind::Handover,
            _ => return None,
        })
    }
}

/// A node's role as it announces it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Role {
    /// Started, waiting to hear the peer before choosing.
    Init = 0,
    /// Mirrors the active; does not translate.
    Standby = 1,
    /// Translates and streams its state.
    Active = 2,
}

impl Role {
    fn from_u8(v: u8) -> Option<Role> {
        Some(match v {
            0 => Role::Init,
            1 => Role::Standby,
            2 => Role::Active,
            _ => return None,
        })
    }

    /// The lower-case name (`cgnatctl ha`, metrics).
    pub fn name(self) -> &'static str {
        match self {
            Role::Init => "init",
            Role::Standby => "standby",
            Role::Active => "active",
        }
    }
}

/// A sync datagram, checked: magic, version, kind, role, flags and the
/// record count against the length.
#[derive(Debug, Clone, Copy)]
pub struct Message<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Message<T> {
    /// A view without checks (fields may panic on a short buffer).
    pub fn new_unchecked(buffer: T) -> Self {
        Message { buffer }
    }

    /// A checked view: [`Error::Truncated`] if shorter than the header or
    /// its records, [`Error::Malformed`] for a wrong magic, version, kind,
    /// role, unknown flag, a record count above [`MAX_RECORDS`] or trailing
    /// bytes.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let m = Message { buffer };
        let d = m.buffer.as_ref();
        if d.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if d[field::MAGIC] != MAGIC || d[field::VERSION] != VERSION {
            return Err(Error::Malformed);
        }
        if Kind::from_u8(d[field::KIND]).is_none() || Role::from_u8(d[field::ROLE]).is_none() {
            return Err(Error::Malformed);
        }
        if d[field::FLAGS] & !KNOWN_FLAGS != 0 {
            return Err(Error::Malformed);
        }
        let n = m.count();
        if n > MAX_RECORDS {
            return Err(Error::Malformed);
        }
        let want = HEADER_LEN + n * RECORD_LEN;
        if d.len() < want {
            return Err(Error::Truncated);
        }
        if d.len() > want {
            return Err(Error::Malformed);
        }
        Ok(m)
    }

    fn data(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The message kind.
    pub fn kind(&self) -> Kind {
        Kind::from_u8(self.data()[field::KIND]).unwrap_or(Kind::Heartbeat)
    }

    /// Records carried.
    pub fn count(&self) -> usize {
        get_u16(self.data(), field::COUNT) as usize
    }

    /// The sender's run id: a new one means the sender restarted.
    pub fn incarnation(&self) -> u64 {
        get_u64(self.data(), field::INCARNATION)
    }

    /// The message's sequence number (data), or where to resend from
    /// (resync).
    pub fn sequence(&self) -> u64 {
        get_u64(self.data(), field::SEQUENCE)
    }

    /// The sender's role.
    pub fn role(&self) -> Role {
        Role::from_u8(self.data()[field::ROLE]).unwrap_or(Role::Init)
    }

    /// The sender's election priority.
    pub fn priority(&self) -> u8 {
        self.data()[field::PRIORITY]
    }

    /// The flags (`FLAG_*`).
    pub fn flags(&self) -> u8 {
        self.data()[field::FLAGS]
    }

    /// The highest sequence the sender received in order from us.
    pub fn ack(&self) -> u64 {
        get_u64(self.data(), field::ACK)
    }

    /// Record `i` (`i < count()`); `Err(Malformed)` for an unknown type.
    pub fn record(&self, i: usize) -> Result<Record> {
        let at = HEADER_LEN + i * RECORD_LEN;
        Record::parse(self.data().get(at..at + RECORD_LEN).ok_or(Error::Truncated)?)
    }
}

/// The header fields of a message to emit.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The kind.
    pub kind: Kind,
    /// The sender's run id.
    pub incarnation: u64,
    /// Sequence (data) or resend point (resync).
    pub sequence: u64,
    /// The sender's role.
    pub role: Role,
    /// The sender's priority.
    pub priority: u8,
    /// `FLAG_*`.
    pub flags: u8,
    /// Cumulative acknowledgement.
    pub ack: u64,
}

impl Header {
    /// The header of a checked message.
    pub fn parse<T: AsRef<[u8]>>(m: &Message<T>) -> Header {
        Header {
            kind: m.kind(),
            incarnation: m.incarnation(),
            sequence: m.sequence(),
            role: m.role(),
            priority: m.priority(),
            flags: m.flags(),
            ack: m.ack(),
        }
    }

    /// Writes the header and `records` into `out` (cleared first); at most
    /// [`MAX_RECORDS`] records (`Err(Malformed)` otherwise).
    pub fn emit(&self, records: &[Record], out: &mut Vec<u8>) -> Result<()> {
        if records.len() > MAX_RECORDS || self.flags & !KNOWN_FLAGS != 0 {
            return Err(Error::Malformed);
        }
        out.clear();
        out.resize(HEADER_LEN + records.len() * RECORD_LEN, 0);
        out[field::MAGIC].copy_from_slice(&MAGIC);
        out[field::VERSION] = VERSION;
        out[field::KIND] = self.kind as u8;
        set_u16(out, field::COUNT, records.len() as u16);
        set_u64(out, field::INCARNATION, self.incarnation);
        set_u64(out, field::SEQUENCE, self.sequence);
        out[field::ROLE] = self.role as u8;
        out[field::PRIORITY] = self.priority;
        out[field::FLAGS] = self.flags;
        set_u64(out, field::ACK, self.ack);
        for (i, r) in records.iter().enumerate() {
            let at = HEADER_LEN + i * RECORD_LEN;
            r.emit(&mut out[at..at + RECORD_LEN]);
        }
        Ok(())
    }
}

/// A port block as the sync stream carries it: enough for the standby to
/// hold the same block for the same subscriber with the same log identity.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockRecord {
    /// Inside address of the subscriber.
    pub subscriber: Ipv4Addr,
    /// Public address of the block.
    pub public: Ipv4Addr,
    /// First port.
    pub first_port: u16,
    /// Last port.
    pub last_port: u16,
    /// Allocation time, microseconds since the Unix epoch.
    pub allocated_us: u64,
    /// The NAT log sequence number of its allocation record.
    pub log_seq: u64,
}

/// A session as the sync stream carries it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct SessionRecord {
    /// IP protocol (6, 17 or 1).
    pub protocol: u8,
    /// TCP state (the core's encoding; 0 for UDP and ICMP).
    pub state: u8,
    /// `SESSION_*` flags.
    pub flags: u8,
    /// Inside address.
    pub subscriber: Ipv4Addr,
    /// Inside port (ICMP: identifier).
    pub inside_port: u16,
    /// Public address.
    pub public: Ipv4Addr,
    /// Public port (ICMP: identifier).
    pub public_port: u16,
    /// Remote address.
    pub remote: Ipv4Addr,
    /// Remote port (ICMP: 0).
    pub remote_port: u16,
    /// Last activity, microseconds since the Unix epoch: the standby's
    /// timers run from it.
    pub last_seen_us: u64,
}

/// Session flag: created by an inbound packet (counts against the inbound
/// budget).
pub const SESSION_INBOUND: u8 = 0x01;
/// Session flag: an inbound packet was seen.
pub const SESSION_SEEN_IN: u8 = 0x02;
/// Session flag: traffic both ways (outbound after inbound).
pub const SESSION_TWO_WAY: u8 = 0x04;

/// One record of a data message.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Record {
    /// A block was allocated (or, in a bulk sync, is held).
    BlockAllocated(BlockRecord),
    /// A block was released.
    BlockReleased(BlockRecord),
    /// A session was created or refreshed.
    SessionUp(SessionRecord),
    /// A session ended.
    SessionDown(SessionRecord),
    /// The legal log's position: run id and next sequence number, so that
    /// a standby taking over continues the sequence.
    LogCursor {
        /// The active's run id.
        run: u64,
        /// The next sequence number it would write.
        next_seq: u64,
    },
}

mod record_type {
    pub const BLOCK_ALLOCATED: u8 = 1;
    pub const BLOCK_RELEASED: u8 = 2;
    pub const SESSION_UP: u8 = 3;
    pub const SESSION_DOWN: u8 = 4;
    pub const LOG_CURSOR: u8 = 5;
}

impl Record {
    /// Parses one 32-byte record.
    pub fn parse(d: &[u8]) -> Result<Record> {
        if d.len() < RECORD_LEN {
            return Err(Error::Truncated);
        }
        let block = || BlockRecord {
            subscriber: get_addr(d, field::R_SUBSCRIBER),
            public: get_addr(d, field::R_PUBLIC),
            first_port: get_u16(d, field::R_PORT_A),
            last_port: get_u16(d, field::R_PORT_B),
            allocated_us: get_u64(d, field::R_WIDE),
            log_seq: get_u64(d, field::R_VALUE),
        };
        let session = || SessionRecord {
            protocol: d[field::R_PROTOCOL],
            state: d[field::R_STATE],
            flags: d[field::R_FLAGS],
            subscriber: get_addr(d, field::R_SUBSCRIBER),
            inside_port: get_u16(d, field::R_PORT_A),
            public: get_addr(d, field::R_PUBLIC),
            public_port: get_u16(d, field::R_PORT_B),
            remote: get_addr(d, field::R_REMOTE),
            remote_port: get_u16(d, field::R_REMOTE_PORT),
            last_seen_us: get_u64(d, field::R_VALUE),
        };
        let r = match d[field::R_TYPE] {
            record_type::BLOCK_ALLOCATED | record_type::BLOCK_RELEASED => {
                let b = block();
                if b.first_port > b.last_port {
                    return Err(Error::Malformed);
                }
                if d[field::R_TYPE] == record_type::BLOCK_ALLOCATED {
                    Record::BlockAllocated(b)
                } else {
                    Record::BlockReleased(b)
                }
            }
            record_type::SESSION_UP | record_type::SESSION_DOWN => {
                let s = session();
                if !matches!(s.protocol, 1 | 6 | 17) {
                    return Err(Error::Malformed);
                }
                if d[field::R_TYPE] == record_type::SESSION_UP {
                    Record::SessionUp(s)
                } else {
                    Record::SessionDown(s)
                }
            }
            record_type::LOG_CURSOR => Record::LogCursor {
                run: get_u64(d, field::R_WIDE),
                next_seq: get_u64(d, field::R_VALUE),
            },
            _ => return Err(Error::Malformed),
        };
        Ok(r)
    }

    /// Writes the record into `d` (32 bytes, zeroed by the caller).
    pub fn emit(&self, d: &mut [u8]) {
        let block = |d: &mut [u8], t: u8, b: &BlockRecord| {
            d[field::R_TYPE] = t;
            set_u32(d, field::R_SUBSCRIBER, b.subscriber.into());
            set_u32(d, field::R_PUBLIC, b.public.into());
            set_u16(d, field::R_PORT_A, b.first_port);
            set_u16(d, field::R_PORT_B, b.last_port);
            set_u64(d, field::R_WIDE, b.allocated_us);
            set_u64(d, field::R_VALUE, b.log_seq);
        };
        let session = |d: &mut [u8], t: u8, s: &SessionRecord| {
            d[field::R_TYPE] = t;
            d[field::R_PROTOCOL] = s.protocol;
            d[field::R_STATE] = s.state;
            d[field::R_FLAGS] = s.flags;
            set_u32(d, field::R_SUBSCRIBER, s.subscriber.into());
            set_u16(d, field::R_PORT_A, s.inside_port);
            set_u32(d, field::R_PUBLIC, s.public.into());
            set_u16(d, field::R_PORT_B, s.public_port);
            set_u32(d, field::R_REMOTE, s.remote.into());
            set_u16(d, field::R_REMOTE_PORT, s.remote_port);
            set_u64(d, field::R_VALUE, s.last_seen_us);
        };
        match self {
            Record::BlockAllocated(b) => block(d, record_type::BLOCK_ALLOCATED, b),
            Record::BlockReleased(b) => block(d, record_type::BLOCK_RELEASED, b),
            Record::SessionUp(s) => session(d, record_type::SESSION_UP, s),
            Record::SessionDown(s) => session(d, record_type::SESSION_DOWN, s),
            Record::LogCursor { run, next_seq } => {
                d[field::R_TYPE] = record_type::LOG_CURSOR;
                set_u64(d, field::R_WIDE, *run);
                set_u64(d, field::R_VALUE, *next_seq);
            }
        }
    }
}

#[cfg(test)]
mod tests;
