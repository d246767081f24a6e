//! The control protocol between `cgnatctl` and `cgnatd`: versioned JSON
//! lines over a Unix stream socket (documented in `docs/control-protocol.md`).
//!
//! The client writes one [`RequestEnvelope`] per line; the daemon answers
//! each with exactly one [`ResponseEnvelope`] line carrying the same `id`,
//! in request order — except `events` with `follow: true`, after whose
//! [`Response::Following`] reply the connection carries
//! [`Response::Record`] lines (one per NAT log record, RFC 6888 REQ-14
//! block records included) until the client closes it.
//!
//! ```text
//! > {"v":1,"id":1,"cmd":"lookup","public":"203.0.113.3","port":1536}
//! < {"v":1,"id":1,"type":"lookup","found":true,"owner":{...}}
//! > {"v":1,"id":2,"cmd":"frobnicate"}
//! < {"v":1,"id":2,"type":"error","code":"bad-request","message":"..."}
//! ```
//!
//! Versioning: `v` is [`PROTOCOL_VERSION`]. The daemon refuses other
//! versions with error code `unsupported-version`; new optional request
//! fields and new response fields may be added without a version change
//! (clients ignore unknown response fields), anything else bumps it.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::Ipv4Prefix;

pub use crate::natlog::json::JsonRecord;

mod answers;
mod ha;

pub use answers::*;
pub use ha::HaStatus;

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// The default control socket path.
pub const DEFAULT_SOCKET: &str = "/run/cgnat/cgnatd.sock";

/// The longest request line the daemon reads (bytes); longer lines get a
/// `bad-request` error and the connection is closed.
pub const MAX_REQUEST_LINE: usize = 64 * 1024;

/// One request line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestEnvelope {
    /// Protocol version ([`PROTOCOL_VERSION`]).
    pub v: u32,
    /// Chosen by the client, echoed in the response.
    #[serde(default)]
    pub id: u64,
    /// The request.
    #[serde(flatten)]
    pub request: Request,
}

impl RequestEnvelope {
    /// A request of the current version.
    pub fn new(id: u64, request: Request) -> Self {
        RequestEnvelope {
            v: PROTOCOL_VERSION,
            id,
            request,
        }
    }
}

/// A protocol filter for sessions.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProtocolName {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP echo.
    Icmp,
}

/// Filters of the `sessions` request (all optional; all given must match).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionFilter {
    /// The subscriber's inside address.
    pub subscriber: Option<Ipv4Addr>,
    /// The public address.
    pub public: Option<Ipv4Addr>,
    /// The public port.
    pub public_port: Option<u16>,
    /// The remote (destination) address.
    pub destination: Option<Ipv4Addr>,
    /// The remote (destination) port.
    pub destination_port: Option<u16>,
    /// The protocol.
    pub protocol: Option<ProtocolName>,
    /// Subscribers in this prefix (`100.64.1.0/24`).
    pub subscriber_prefix: Option<Ipv4Prefix>,
    /// Remote addresses in this prefix.
    pub destination_prefix: Option<Ipv4Prefix>,
    /// Sessions in this state: a TCP state name (`established`,
    /// `syn-sent`, ..., as `sessions` shows them), or `-` for UDP and ICMP.
    pub state: Option<String>,
}

/// How `subscribers` sorts its list (largest first).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubscriberSort {
    /// By live sessions (the default).
    #[default]
    Sessions,
    /// By ports held (blocks × block size, static ports).
    Ports,
    /// By blocks held.
    Blocks,
}

/// What the client asks. Serialized with the tag `cmd`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    /// Daemon status: [`Response::Status`].
    Status,
    /// Every counter: [`Response::Stats`].
    Stats,
    /// One subscriber's public address, blocks, sessions, limits:
    /// [`Response::Subscriber`].
    Subscriber {
        /// The inside address.
        address: Ipv4Addr,
    },
    /// Who holds `public:port` now (`Nat::lookup_public`):
    /// [`Response::Lookup`].
    Lookup {
        /// The public address.
        public: Ipv4Addr,
        /// The public port.
        port: u16,
    },
    /// Live sessions matching `filter`, at most `limit` (default 1000,
    /// at most 100000): [`Response::Sessions`].
    Sessions {
        /// The filter.
        #[serde(default)]
        filter: SessionFilter,
        /// Maximum sessions returned.
        #[serde(default)]
        limit: Option<u32>,
    },
    /// NAT log records: with `follow`, [`Response::Following`] then a
    /// [`Response::Record`] line per record (the last `last` ones first,
    /// then every record written from now on, none lost in between) until
    /// [`Response::End`] at a clean stop, or an error if the stream
    /// breaks; without, [`Response::Records`] with the last `last` records
    /// kept in memory.
    Events {
        /// Stream records as they are written.
        #[serde(default)]
        follow: bool,
        /// How many recent records to return (default 100, at most the
        /// daemon's history, 10000).
        #[serde(default)]
        last: Option<u32>,
    },
    /// Targeted clear (conntrack -D): exactly one of `subscriber`,
    /// `public`+`port`, or `all: true`. [`Response::Cleared`].
    Clear {
        /// Every session and block of this subscriber.
        #[serde(default)]
        subscriber: Option<Ipv4Addr>,
        /// The sessions on this public address:`port`.
        #[serde(default)]
        public: Option<Ipv4Addr>,
        /// With `public`.
        #[serde(default)]
        port: Option<u16>,
        /// Everything (must be explicit).
        #[serde(default)]
        all: bool,
    },
    /// The subscribers with state, largest first by `sort`, at most `limit`
    /// (default 100, at most 100000): [`Response::Subscribers`].
    Subscribers {
        /// The order.
        #[serde(default)]
        sort: SubscriberSort,
        /// How many.
        #[serde(default)]
        limit: Option<u32>,
    },
    /// The PCP and NAT-PMP mappings (of `subscriber` if given), at most
    /// `limit` (default 1000): [`Response::Pcp`].
    Pcp {
        /// Only this subscriber's.
        #[serde(default)]
        subscriber: Option<Ipv4Addr>,
        /// How many.
        #[serde(default)]
        limit: Option<u32>,
    },
    /// Reload limits, timers and log targets from `path` (default: the file
    /// the daemon started with) without dropping sessions:
    /// [`Response::Reloaded`].
    Reload {
        /// The configuration file.
        #[serde(default)]
        path: Option<PathBuf>,
    },
    /// The HA pair's state (issue 13): [`Response::Ha`].
    Ha,
    /// A planned switchover (issue 13 item 6): the active hands its role
    /// to an in-sync standby; refused otherwise. [`Response::Ha`] after.
    HaSwitchover,
}

/// Error codes of [`Response::Error`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// Not JSON, unknown command, missing or bad field.
    BadRequest,
    /// `v` is not [`PROTOCOL_VERSION`].
    UnsupportedVersion,
    /// The subscriber or address is not known.
    NotFound,
    /// The new configuration was refused (message names key, value, allowed).
    InvalidConfig,
    /// The daemon could not do it now (shutting down, queue full).
    Unavailable,
    /// Not allowed on this socket (the read-only socket serves queries
    /// only: no `clear`, no `reload`).
    Forbidden,
    /// An `events --follow` stream broke (the follower lagged the log):
    /// records were lost to it.
    StreamBroken,
}

/// One response line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResponseEnvelope {
    /// Protocol version ([`PROTOCOL_VERSION`]).
    pub v: u32,
    /// The request's id (0 if the request could not be parsed).
    pub id: u64,
    /// The answer.
    #[serde(flatten)]
    pub response: Response,
}

impl ResponseEnvelope {
    /// A response of the current version.
    pub fn new(id: u64, response: Response) -> Self {
        ResponseEnvelope {
            v: PROTOCOL_VERSION,
            id,
            response,
        }
    }

    /// An error response.
    pub fn error(id: u64, code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(
            id,
            Response::Error {
                code,
                message: message.into(),
            },
        )
    }
}

/// The daemon's answer. Serialized with the tag `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Response {
    /// The request failed.
    Error {
        /// Machine-readable code.
        code: ErrorCode,
        /// Human-readable message.
        message: String,
    },
    /// Answer to `status`.
    Status(Status),
    /// Answer to `stats`.
    Stats(Stats),
    /// Answer to `subscriber`.
    Subscriber(SubscriberDetail),
    /// Answer to `lookup`.
    Lookup(LookupResult),
    /// Answer to `sessions`.
    Sessions(SessionList),
    /// Answer to `events` without `follow`.
    Records {
        /// Oldest first.
        records: Vec<JsonRecord>,
    },
    /// Answer to `events` with `follow`: records follow.
    Following,
    /// One streamed log record.
    Record {
        /// The record (the JSON-lines log format's fields).
        record: JsonRecord,
    },
    /// The end of a follow stream: every record was sent (the daemon is
    /// stopping; the last record is its `daemon-stop`).
    End {
        /// Why the stream ended.
        reason: String,
    },
    /// Answer to `subscribers`.
    Subscribers(SubscriberList),
    /// Answer to `clear`.
    Cleared(ClearResult),
    /// Answer to `pcp`.
    Pcp(PcpList),
    /// Answer to `ha` and `ha-switchover`.
    Ha(HaStatus),
    /// Answer to `reload`.
    Reloaded {
        /// The file read.
        path: PathBuf,
        /// Log targets open after the reload.
        log_targets: Vec<String>,
    },
}

/// Parses one request line. On failure, returns the error response to send
/// (with the request's `id` when it could be read).
// The error is the reply itself, built once per bad request: its size
// does not matter.
#[allow(clippy::result_large_err)]
pub fn parse_request(line: &str) -> Result<RequestEnvelope, ResponseEnvelope> {
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| ResponseEnvelope::error(0, ErrorCode::BadRequest, format!("not JSON: {e}")))?;
    let id = value.get("id").and_then(|v| v.as_u64()).unwrap_or(0);
    match value.get("v").and_then(|v| v.as_u64()) {
        Some(v) if v == PROTOCOL_VERSION as u64 => {}
        Some(v) => {
            return Err(ResponseEnvelope::error(
                id,
                ErrorCode::UnsupportedVersion,
                format!("protocol version {v} is not supported; this daemon speaks v{PROTOCOL_VERSION}"),
            ))
        }
        None => {
            return Err(ResponseEnvelope::error(
                id,
                ErrorCode::BadRequest,
                format!("missing protocol version field `v` (use {PROTOCOL_VERSION})"),
            ))
        }
    }
    serde_json::from_value(value).map_err(|e| ResponseEnvelope::error(id, ErrorCode::BadRequest, e.to_string()))
}

/// One response line (without the newline).
pub fn format_response(r: &ResponseEnvelope) -> String {
    serde_json::to_string(r).expect("plain data serialises")
}

/// One request line (without the newline).
pub fn format_request(r: &RequestEnvelope) -> String {
    serde_json::to_string(r).expect("plain data serialises")
}

/// Parses one response line (client side).
pub fn parse_response(line: &str) -> Result<ResponseEnvelope, serde_json::Error> {
    serde_json::from_str(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        let reqs = [
            Request::Status,
            Request::Stats,
            Request::Subscriber {
                address: [100, 64, 1, 10].into(),
            },
            Request::Lookup {
                public: [203, 0, 113, 3].into(),
                port: 1536,
            },
            Request::Sessions {
                filter: SessionFilter {
                    protocol: Some(ProtocolName::Tcp),
                    ..Default::default()
                },
                limit: Some(10),
            },
            Request::Events { follow: true, last: None },
            Request::Clear {
                subscriber: None,
                public: Some([203, 0, 113, 3].into()),
                port: Some(1536),
                all: false,
            },
            Request::Reload { path: None },
            Request::Pcp {
                subscriber: Some([100, 64, 1, 10].into()),
                limit: Some(3),
            },
            Request::Subscribers {
                sort: SubscriberSort::Ports,
                limit: Some(5),
            },
            Request::Sessions {
                filter: SessionFilter {
                    subscriber_prefix: Some("100.64.1.0/24".parse().unwrap()),
                    state: Some("established".into()),
                    ..Default::default()
                },
                limit: None,
            },
        ];
        for (i, r) in reqs.into_iter().enumerate() {
            let env = RequestEnvelope::new(i as u64, r);
            let line = format_request(&env);
            assert_eq!(parse_request(&line), Ok(env), "{line}");
        }
        let l = r#"{"v":1,"id":9,"cmd":"lookup","public":"203.0.113.3","port":1536}"#;
        assert!(matches!(parse_request(l).unwrap().request, Request::Lookup { port: 1536, .. }));
    }

    #[test]
    fn malformed_requests_get_errors() {
        for (line, id, code) in [
            ("nope", 0, ErrorCode::BadRequest),
            (r#"{"id":3,"cmd":"status"}"#, 3, ErrorCode::BadRequest),
            (r#"{"v":2,"id":4,"cmd":"status"}"#, 4, ErrorCode::UnsupportedVersion),
            (r#"{"v":1,"id":5,"cmd":"frobnicate"}"#, 5, ErrorCode::BadRequest),
            (r#"{"v":1,"id":6,"cmd":"lookup","public":"x","port":1}"#, 6, ErrorCode::BadRequest),
            (r#"{"v":1,"id":7,"cmd":"lookup","public":"1.2.3.4"}"#, 7, ErrorCode::BadRequest),
        ] {
            let e = parse_request(line).unwrap_err();
            assert_eq!(e.id, id, "{line}");
            assert!(matches!(e.response, Response::Error { code: c, .. } if c == code), "{line}: {e:?}");
        }
    }

    #[test]
    fn responses_round_trip() {
        let r = ResponseEnvelope::new(
            1,
            Response::Lookup(LookupResult {
                public: [203, 0, 113, 3].into(),
                port: 1536,
                owner: Some(Owner {
                    subscriber: [100, 64, 1, 10].into(),
                    kind: "dynamic".into(),
                    block: BlockDetail {
                        public: [203, 0, 113, 3].into(),
                        first_port: 1536,
                        last_port: 2047,
                        allocated_at: "2023-11-14T22:13:20Z".into(),
                        mappings: 1,
                        static_port: false,
                    },
                    mappings: vec![(ProtocolName::Udp, 5353)],
                }),
                in_pool: true,
                run: 7,
            }),
        );
        let line = format_response(&r);
        assert!(line.starts_with(r#"{"v":1,"id":1,"type":"lookup","#), "{line}");
        assert_eq!(parse_response(&line).unwrap(), r);
        let e = ResponseEnvelope::error(2, ErrorCode::NotFound, "no such subscriber");
        assert_eq!(
            format_response(&e),
            r#"{"v":1,"id":2,"type":"error","code":"not-found","message":"no such subscriber"}"#
        );
        let f = ResponseEnvelope::new(3, Response::Following);
        assert_eq!(parse_response(&format_response(&f)).unwrap(), f);
    }
}
