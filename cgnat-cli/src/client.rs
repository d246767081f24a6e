//! The control-socket client: JSON lines over a Unix stream socket
//! (`docs/control-protocol.md`, types in [`cgnat_core::control`]).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cgnat_core::control::{self, Request, RequestEnvelope, Response, ResponseEnvelope, DEFAULT_SOCKET};

use crate::error::{CliError, EXIT_NOT_FOUND};

/// How long a request may wait for its answer.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// The socket to use: `--socket` / `CGNATCTL_SOCKET`, else the default.
pub fn socket_path(arg: Option<&Path>) -> PathBuf {
    arg.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

/// A connection to cgnatd.
#[derive(Debug)]
pub struct Client {
    path: PathBuf,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
}

/// Why the socket could not be used, explained for an operator.
pub fn connect_error(path: &Path, e: &std::io::Error) -> CliError {
    let p = path.display();
    let meta = std::fs::metadata(path).ok();
    match e.kind() {
        std::io::ErrorKind::NotFound => CliError::usage(format!("cgnatd is not running: no control socket at {p}")).with_hint(
            "start cgnatd, or pass --socket PATH (or CGNATCTL_SOCKET) if it listens elsewhere (`control.socket` in its config)\n\
             for past times, look up in the NAT logs instead: --at TIME --log-dir /var/log/cgnat",
        ),
        std::io::ErrorKind::PermissionDenied => {
            let who = meta
                .map(|m| format!("it is owned by uid {} with mode {:o}", m.uid(), m.mode() & 0o777))
                .unwrap_or_default();
            CliError::usage(format!("permission denied on the control socket {p}")).with_hint(format!(
                "the socket is owner-only; {who}: run cgnatctl as that user (e.g. with sudo), and check the permissions of its directory\n\
                 for queries only, the read-only socket (control.readonly_socket, e.g. --socket /run/cgnat/cgnatd-ro.sock) is open to its group"
            ))
        }
        std::io::ErrorKind::ConnectionRefused => {
            let what = match meta {
                Some(m) if !m.file_type().is_socket() => "it is not a socket",
                _ => "nothing is listening (stale socket: cgnatd stopped or crashed?)",
            };
            CliError::usage(format!("cannot connect to {p}: {what}"))
                .with_hint("check that cgnatd is running (systemctl status cgnatd), or pass --socket PATH")
        }
        _ => CliError::usage(format!("cannot connect to the control socket {p}: {e}"))
            .with_hint("pass --socket PATH if cgnatd listens elsewhere"),
    }
}

impl Client {
    /// Connects to the daemon at `path`.
    pub fn connect(path: &Path) -> Result<Client, CliError> {
        let s = UnixStream::connect(path).map_err(|e| connect_error(path, &e))?;
        let io = |e: std::io::Error| CliError::usage(format!("control socket {}: {e}", path.display()));
        s.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
        s.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
        let writer = s.try_clone().map_err(io)?;
        Ok(Client {
            path: path.to_path_buf(),
            reader: BufReader::new(s),
            writer,
            next_id: 1,
        })
    }

    fn io(&self, what: &str, e: std::io::Error) -> CliError {
        let timeout = matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut);
        let m = if timeout {
            format!(
                "cgnatd did not answer within {} s ({what} on {})",
                TIMEOUT.as_secs(),
                self.path.display()
            )
        } else {
            format!("control socket {}: {what}: {e}", self.path.display())
        };
        CliError::usage(m)
    }

    /// Sends `request` and returns the answer; daemon errors become
    /// [`CliError`]s (`not-found` exits 1, others 2).
    pub fn call(&mut self, request: Request) -> Result<Response, CliError> {
        let id = self.next_id;
        self.next_id += 1;
        let line = control::format_request(&RequestEnvelope::new(id, request)) + "\n";
        self.writer.write_all(line.as_bytes()).map_err(|e| self.io("write", e))?;
        let env = self.read()?;
        if env.id != id && !matches!(env.response, Response::Error { .. }) {
            return Err(CliError::usage(format!("cgnatd answered request {} instead of {id}", env.id)));
        }
        match env.response {
            Response::Error { code, message } => {
                let code_s = serde_json::to_value(code)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default();
                let mut e = CliError::usage(format!("cgnatd: {message} ({code_s})"));
                if matches!(code, control::ErrorCode::NotFound | control::ErrorCode::InvalidConfig) {
                    e.code = EXIT_NOT_FOUND;
                }
                if code == control::ErrorCode::Forbidden {
                    e = e.with_hint("use the control socket (control.socket, as its owner) for clear and reload");
                }
                if code == control::ErrorCode::UnsupportedVersion {
                    e = e.with_hint("cgnatctl and cgnatd are of different versions: use the cgnatctl shipped with the daemon");
                }
                Err(e)
            }
            r => Ok(r),
        }
    }

    /// Reads one response line (streams: `events --follow`). `Ok(None)` at
    /// the end of the stream.
    pub fn read_stream(&mut self) -> Result<Option<ResponseEnvelope>, CliError> {
        match self.read() {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.message.contains("closed the connection") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Disables the read timeout (for streams that may be idle).
    pub fn no_timeout(&mut self) -> Result<(), CliError> {
        self.reader.get_ref().set_read_timeout(None).map_err(|e| self.io("configure", e))
    }

    fn read(&mut self) -> Result<ResponseEnvelope, CliError> {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).map_err(|e| self.io("read", e))?;
        if n == 0 {
            return Err(CliError::usage(format!("cgnatd closed the connection ({})", self.path.display())));
        }
        control::parse_response(line.trim_end())
            .map_err(|e| CliError::usage(format!("cannot read cgnatd's answer: {e}: {}", line.trim_end())))
    }
}

/// An unexpected answer type.
pub fn unexpected(r: &Response) -> CliError {
    let t = serde_json::to_value(r)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(String::from))
        .unwrap_or_default();
    CliError::usage(format!("unexpected answer from cgnatd: {t}"))
}
