//! A login's conversation with mfad, as the PAM module holds it: one
//! connection for the `challenge` and the `verify` that follows, opened
//! with `hello` and the first request in a single write, so a login costs
//! one connect and two round trips. If the daemon dropped the connection
//! while the user was typing (its idle timeout, a restart), the request is
//! sent again on a fresh connection, within the same deadline.

use crate::client::{CallError, Client, ClientError};
use crate::{Request, Response};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct Session {
    public: PathBuf,
    as_root: bool,
    timeout: Duration,
    client: &'static str,
    conn: Option<Client>,
}

impl Session {
    /// Nothing is connected until the first call. `as_root` picks root's
    /// own socket (see [`crate::client::via_socket_for`]); `timeout`
    /// bounds each call as a whole.
    pub fn new(public: &Path, as_root: bool, timeout: Duration, client: &'static str) -> Self {
        Session {
            public: public.to_path_buf(),
            as_root,
            timeout,
            client,
            conn: None,
        }
    }

    /// Send one request and wait for its answer.
    pub fn call(&mut self, req: &Request) -> Result<Response, ClientError> {
        self.call_within(req, self.timeout)
    }

    /// Send one request that may take up to `timeout` (a `push_wait`).
    pub fn call_within(
        &mut self,
        req: &Request,
        timeout: Duration,
    ) -> Result<Response, ClientError> {
        let deadline = Instant::now() + timeout;
        if let Some(conn) = self.conn.as_mut() {
            match conn.call_by(req, deadline) {
                Ok(resp) => return Ok(resp),
                Err(CallError::Failed(e)) => {
                    self.conn = None;
                    return Err(e);
                }
                // Sent again below: the daemon never answered it.
                Err(CallError::Gone(_)) => self.conn = None,
            }
        }
        let (conn, resp) = crate::client::via_socket_for(&self.public, self.as_root, |path| {
            Client::open_with(path, deadline, self.timeout, self.client, req)
        })?;
        self.conn = Some(conn);
        Ok(resp)
    }
}
