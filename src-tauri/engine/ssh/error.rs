//! SSH errors. Each says which host and what to do; none carries a secret.

use crate::engine::error::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("cannot reach {host} at {addr}: {source}")]
    Connect {
        host: String,
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{host}: {what} timed out after {secs} s")]
    Timeout {
        host: String,
        what: &'static str,
        secs: u64,
    },
    #[error(
        "{host} presented an unknown host key {fingerprint} ({key_type}). Check it against the \
         server's own `ssh-keygen -lf /etc/ssh/ssh_host_{short}_key.pub`, then trust it explicitly"
    )]
    HostKeyUnknown {
        host: String,
        fingerprint: String,
        key_type: String,
        short: String,
    },
    #[error(
        "REFUSED: the host key of {host} has changed. Pinned: {pinned}. Presented now: {seen}. \
         This is what a man-in-the-middle attack looks like; it is also what a reinstalled server \
         looks like. Confirm the new key out of band before you re-pin it"
    )]
    HostKeyChanged {
        host: String,
        pinned: String,
        seen: String,
    },
    #[error("{host}: the server refused {method} authentication for user {user:?}")]
    AuthRejected {
        host: String,
        user: String,
        method: &'static str,
    },
    #[error("SSH key {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("ssh-agent: {reason}")]
    Agent { reason: String },
    #[error("{host}: SSH protocol error: {source}")]
    Protocol {
        host: String,
        #[source]
        source: russh::Error,
    },
    #[error("{host}: cannot open a channel for {what}: {source}")]
    Channel {
        host: String,
        what: String,
        #[source]
        source: russh::Error,
    },
    /// The channel for a command could not be opened: the command was never sent, so it
    /// is the one failure after which a command may be sent again.
    #[error("{host}: cannot open a channel for a command (it was not sent): {source}")]
    ChannelOpen {
        host: String,
        #[source]
        source: russh::Error,
    },
    #[error("{host}: the connection was closed")]
    Disconnected { host: String },
    #[error(
        "cannot reach {host} through the jump host {via}: {detail} (does {via}'s sshd allow \
         TCP forwarding, and can it reach {host}'s address?)"
    )]
    Jump {
        host: String,
        via: String,
        detail: String,
    },
}

impl SshError {
    pub fn code(&self) -> ErrorCode {
        match self {
            SshError::Connect { .. } => ErrorCode::SshUnreachable,
            SshError::Timeout { .. } => ErrorCode::SshTimeout,
            SshError::HostKeyUnknown { .. } => ErrorCode::SshHostKeyUnknown,
            SshError::HostKeyChanged { .. } => ErrorCode::SshHostKeyChanged,
            SshError::AuthRejected { .. } => ErrorCode::SshAuthRejected,
            SshError::Key { .. } => ErrorCode::SshKey,
            SshError::Agent { .. } => ErrorCode::SshAgent,
            SshError::Protocol { .. } => ErrorCode::SshProtocol,
            SshError::Channel { .. } | SshError::ChannelOpen { .. } => ErrorCode::SshChannel,
            SshError::Disconnected { .. } => ErrorCode::SshDisconnected,
            SshError::Jump { .. } => ErrorCode::SshJump,
        }
    }
}
