//! Control-port lines: the reference's `ControlProtocol` commands (`Server/Control.hs`),
//! parsed strictly (a command without arguments takes none; queue IDs are base64url).

use simplex_encoding::decode_all;
use simplex_encoding::string::base64url_decode;
use smp_proto::error::BlockingInfo;

/// Who the session has authenticated as (the reference's `CPClientRole`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Not authenticated: `CPRNone`.
    None,
    /// `[AUTH] control_port_user_password`: `CPRUser`.
    User,
    /// `[AUTH] control_port_admin_password`: `CPRAdmin`.
    Admin,
}

impl Role {
    /// As the reference prints it (`Current role is CPRAdmin`).
    pub fn name(self) -> &'static str {
        match self {
            Role::None => "CPRNone",
            Role::User => "CPRUser",
            Role::Admin => "CPRAdmin",
        }
    }
}

/// A control-port command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlCommand {
    /// `auth <password>`.
    Auth(String),
    /// `suspend` (not implemented, as in the reference).
    Suspend,
    /// `resume` (not implemented, as in the reference).
    Resume,
    /// `clients`.
    Clients,
    /// `stats`.
    Stats,
    /// `stats-rts` (GHC's runtime statistics in the reference).
    StatsRts,
    /// `threads`.
    Threads,
    /// `sockets`.
    Sockets,
    /// `socket-threads`.
    SocketThreads,
    /// `server-info`.
    ServerInfo,
    /// `delete <sender ID>`.
    Delete(Vec<u8>),
    /// `status <sender ID>`.
    Status(Vec<u8>),
    /// `block <sender ID> reason=spam|content[,notice={"ttl":N}]`.
    Block(Vec<u8>, BlockingInfo),
    /// `unblock <sender ID>`.
    Unblock(Vec<u8>),
    /// `save`.
    Save,
    /// `help`.
    Help,
    /// `quit`.
    Quit,
    /// An empty line: nothing to do.
    Skip,
}

impl ControlCommand {
    /// The command's name, for the log (never its arguments).
    pub fn name(&self) -> &'static str {
        match self {
            ControlCommand::Auth(_) => "auth",
            ControlCommand::Suspend => "suspend",
            ControlCommand::Resume => "resume",
            ControlCommand::Clients => "clients",
            ControlCommand::Stats => "stats",
            ControlCommand::StatsRts => "stats-rts",
            ControlCommand::Threads => "threads",
            ControlCommand::Sockets => "sockets",
            ControlCommand::SocketThreads => "socket-threads",
            ControlCommand::ServerInfo => "server-info",
            ControlCommand::Delete(_) => "delete",
            ControlCommand::Status(_) => "status",
            ControlCommand::Block(..) => "block",
            ControlCommand::Unblock(_) => "unblock",
            ControlCommand::Save => "save",
            ControlCommand::Help => "help",
            ControlCommand::Quit => "quit",
            ControlCommand::Skip => "",
        }
    }

    /// Parses one line (without its line end); the error is printed after `error: `.
    pub fn parse(line: &str) -> Result<ControlCommand, String> {
        let line = line.trim();
        let (word, args) = match line.split_once(' ') {
            Some((w, a)) => (w, Some(a.trim())),
            None => (line, None),
        };
        let no_args = |c: ControlCommand| match args {
            None => Ok(c),
            Some(_) => Err(format!("`{word}` takes no arguments")),
        };
        match word {
            "" => Ok(ControlCommand::Skip),
            "auth" => match args {
                Some(p) if !p.is_empty() && !p.contains(char::is_whitespace) => {
                    Ok(ControlCommand::Auth(p.to_string()))
                }
                _ => Err("expected auth <password>".into()),
            },
            "suspend" => no_args(ControlCommand::Suspend),
            "resume" => no_args(ControlCommand::Resume),
            "clients" => no_args(ControlCommand::Clients),
            "stats" => no_args(ControlCommand::Stats),
            "stats-rts" => no_args(ControlCommand::StatsRts),
            "threads" => no_args(ControlCommand::Threads),
            "sockets" => no_args(ControlCommand::Sockets),
            "socket-threads" => no_args(ControlCommand::SocketThreads),
            "server-info" => no_args(ControlCommand::ServerInfo),
            "delete" => Ok(ControlCommand::Delete(one_id(word, args)?)),
            "status" => Ok(ControlCommand::Status(one_id(word, args)?)),
            "unblock" => Ok(ControlCommand::Unblock(one_id(word, args)?)),
            "block" => {
                let usage =
                    "expected block <sender ID> reason=spam|content[,notice={\"ttl\":<seconds>}]";
                let (id, info) = args
                    .and_then(|a| a.split_once(' '))
                    .ok_or_else(|| usage.to_string())?;
                let id = queue_id(id)?;
                let info = decode_all::<BlockingInfo>(info.trim().as_bytes())
                    .map_err(|_| usage.to_string())?;
                Ok(ControlCommand::Block(id, info))
            }
            "save" => no_args(ControlCommand::Save),
            "help" => no_args(ControlCommand::Help),
            "quit" => no_args(ControlCommand::Quit),
            _ => Err("unknown command, 'help' for supported commands".into()),
        }
    }
}

/// The one argument of `delete`, `status` and `unblock`: a queue ID.
fn one_id(word: &str, args: Option<&str>) -> Result<Vec<u8>, String> {
    match args {
        Some(a) if !a.is_empty() && !a.contains(' ') => queue_id(a),
        _ => Err(format!("expected {word} <sender ID>")),
    }
}

/// A queue ID in base64url (padded or not), as the reference's `strP`.
fn queue_id(s: &str) -> Result<Vec<u8>, String> {
    match base64url_decode(s.as_bytes()) {
        Ok(id) if !id.is_empty() => Ok(id),
        _ => Err("invalid queue ID, expected base64url".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_strictly() {
        use ControlCommand as C;
        assert_eq!(C::parse("stats"), Ok(C::Stats));
        assert_eq!(C::parse("  quit \r"), Ok(C::Quit));
        assert_eq!(C::parse(""), Ok(C::Skip));
        assert_eq!(C::parse("auth pw-1"), Ok(C::Auth("pw-1".into())));
        assert!(C::parse("auth").is_err());
        assert!(C::parse("stats now").is_err());
        assert!(C::parse("bogus").is_err());
        assert_eq!(C::parse("delete AQID"), Ok(C::Delete(vec![1, 2, 3])));
        assert_eq!(C::parse("status AQID"), Ok(C::Status(vec![1, 2, 3])));
        assert!(C::parse("delete").is_err());
        assert!(C::parse("delete !!").is_err());
        assert!(C::parse("delete AQID AQID").is_err());
        assert_eq!(
            C::parse("block AQID reason=spam"),
            Ok(C::Block(
                vec![1, 2, 3],
                BlockingInfo {
                    reason: smp_proto::error::BlockingReason::Spam,
                    notice: None
                }
            ))
        );
        assert!(C::parse("block AQID").is_err());
        assert!(C::parse("block AQID reason=other").is_err());
    }
}
