//! The lock-free tables shared by every worker and the management core.
//!
//! - [`session::SessionTable`]: 5-tuple flows (inside endpoint, remote
//!   endpoint) → public port, TCP state, last activity.
//! - [`mapping::MappingTable`]: endpoint-independent mappings (RFC 4787
//!   REQ-1): inside (protocol, address, port) → public port.
//! - [`subscriber::SubscriberTable`]: inside address → public address (paired
//!   pooling, RFC 6888 REQ-2), held blocks, session count.
//!
//! All three are fixed-capacity open-addressing tables with linear probing,
//! allocated once from the configured limits, so a flood cannot grow them.
//! Workers insert and look up concurrently; only the management core's
//! sweeper deletes. Nobody ever waits on anybody: a reader that meets a slot
//! being written treats it as "not this key" and moves on, and two workers
//! creating the same key at the same instant are resolved by letting the
//! loser drop its packet (`DropReason::SessionRace`). See
//! `docs/decisions/002-mapping-table.md` for the design and its proof sketch.

pub mod hash;
pub mod mapping;
pub mod session;
pub mod subscriber;

pub(crate) mod probe;
