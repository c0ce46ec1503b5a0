//! The bot API's errors (`ChatError`, `ChatErrorType`, `StoreError`, `AgentErrorType`),
//! with the reference's tags.

use serde::Serialize;
use simplex_agent::AgentError;

use super::groups::GroupInfo;
use super::types::Contact;

/// A failed command or event (`ChatError`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ChatError {
    /// A chat error.
    Error {
        /// Which.
        error_type: ChatErrorType,
    },
    /// The agent failed.
    ErrorAgent {
        /// How.
        agent_error: AgentErrorType,
        /// The agent's connection (empty when none).
        agent_conn_id: String,
    },
    /// The database failed or has no such record.
    ErrorStore {
        /// Which.
        store_error: StoreError,
    },
}

impl ChatError {
    /// A command that did not parse or is not supported.
    pub fn command(message: impl Into<String>) -> Self {
        ChatError::Error {
            error_type: ChatErrorType::CommandError {
                message: message.into(),
            },
        }
    }

    /// A store error.
    pub fn store(store_error: StoreError) -> Self {
        ChatError::ErrorStore { store_error }
    }

    /// A chat error.
    pub fn chat(error_type: ChatErrorType) -> Self {
        ChatError::Error { error_type }
    }
}

impl From<AgentError> for ChatError {
    fn from(e: AgentError) -> Self {
        ChatError::ErrorAgent {
            agent_error: AgentErrorType::from(&e),
            agent_conn_id: String::new(),
        }
    }
}

impl From<crate::store::StoreError> for ChatError {
    fn from(e: crate::store::StoreError) -> Self {
        ChatError::store(StoreError::DBException {
            message: e.to_string(),
        })
    }
}

impl From<crate::chat::ChatError> for ChatError {
    fn from(e: crate::chat::ChatError) -> Self {
        match e {
            crate::chat::ChatError::Store(s) => s.into(),
            crate::chat::ChatError::Agent(a) => a.into(),
        }
    }
}

/// What went wrong (`ChatErrorType`): the cases this client reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ChatErrorType {
    /// No user yet.
    NoActiveUser,
    /// A user (or contact) with this name exists.
    UserExists {
        /// The name.
        contact_name: String,
    },
    /// The display name cannot be used.
    InvalidDisplayName {
        /// The name given.
        display_name: String,
        /// A name that could be used.
        valid_name: String,
    },
    /// Not a valid link.
    InvalidConnReq,
    /// The contact is not connected yet.
    ContactNotReady {
        /// The contact.
        contact: Box<Contact>,
    },
    /// The contact deleted the connection.
    ContactNotActive {
        /// The contact.
        contact: Box<Contact>,
    },
    /// The user's role is too low for this.
    GroupUserRole {
        /// The group.
        group_info: Box<GroupInfo>,
        /// The role required.
        required_role: crate::protocol::group::MemberRole,
    },
    /// The user has not joined the group yet.
    GroupNotJoined {
        /// The group.
        group_info: Box<GroupInfo>,
    },
    /// The contact is already a member.
    GroupDuplicateMember {
        /// The contact's name.
        contact_name: String,
    },
    /// A file cannot be cancelled.
    FileCancel {
        /// The file.
        file_id: i64,
        /// Why.
        message: String,
    },
    /// The file is being received already.
    FileAlreadyReceiving {
        /// Why.
        message: String,
    },
    /// No such file.
    FileNotFound {
        /// Details.
        message: String,
    },
    /// The command did not parse, or is not supported.
    CommandError {
        /// The reason.
        message: String,
    },
    /// Anything else.
    InternalError {
        /// Details.
        message: String,
    },
}

/// A database error or a missing record (`StoreError`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum StoreError {
    /// No contact with this ID.
    ContactNotFound {
        /// The ID.
        contact_id: i64,
    },
    /// No contact with this name.
    ContactNotFoundByName {
        /// The name.
        contact_name: String,
    },
    /// The user already has an address.
    DuplicateContactLink,
    /// The user has no address.
    UserContactLinkNotFound,
    /// No request with this ID.
    ContactRequestNotFound {
        /// The ID.
        contact_request_id: i64,
    },
    /// No request with this name.
    ContactRequestNotFoundByName {
        /// The name.
        contact_name: String,
    },
    /// No group with this ID.
    GroupNotFound {
        /// The ID.
        group_id: i64,
    },
    /// No group with this name.
    GroupNotFoundByName {
        /// The name.
        group_name: String,
    },
    /// No member with this ID.
    GroupMemberNotFound {
        /// The ID.
        group_member_id: i64,
    },
    /// No member with this name in the group.
    GroupMemberNameNotFound {
        /// The group.
        group_id: i64,
        /// The name.
        group_member_name: String,
    },
    /// The group has no link.
    GroupLinkNotFound {
        /// The group.
        group_info: Box<GroupInfo>,
    },
    /// No file with this ID.
    FileNotFound {
        /// The ID.
        file_id: i64,
    },
    /// No user with this ID.
    UserNotFound {
        /// The ID.
        user_id: i64,
    },
    /// The database failed.
    #[serde(rename = "dBException")]
    DBException {
        /// Details.
        message: String,
    },
}

/// An agent error (`AgentErrorType`): tags in capitals, as the reference's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum AgentErrorType {
    /// A command the agent refused.
    #[serde(rename = "CMD")]
    Cmd {
        /// Why (`CommandErrorType`).
        cmd_err: TypeOnly,
        /// Details.
        err_context: String,
    },
    /// A connection error.
    #[serde(rename = "CONN")]
    Conn {
        /// Which (`ConnectionErrorType`).
        conn_err: TypeOnly,
        /// Details.
        err_context: String,
    },
    /// The relay answered with an error.
    #[serde(rename = "SMP")]
    Smp {
        /// The relay.
        server_address: String,
        /// Its error (`ErrorType`).
        smp_err: TypeOnly,
    },
    /// An agent protocol error.
    #[serde(rename = "AGENT")]
    Agent {
        /// Which (`SMPAgentError`).
        agent_err: TypeOnly,
    },
    /// The agent is stopped.
    #[serde(rename = "INACTIVE")]
    Inactive,
    /// Anything else, in words.
    #[serde(rename = "INTERNAL")]
    Internal {
        /// The words.
        internal_err: String,
    },
}

/// A tag without fields: `{"type":"AUTH"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TypeOnly {
    /// The tag.
    #[serde(rename = "type")]
    pub tag: &'static str,
}

fn tag(tag: &'static str) -> TypeOnly {
    TypeOnly { tag }
}

impl From<&AgentError> for AgentErrorType {
    fn from(e: &AgentError) -> Self {
        use smp_client::ClientError;
        use smp_proto::ErrorType as E;
        match e {
            AgentError::Smp {
                server,
                error: ClientError::Server(err),
            } => {
                let t = match err {
                    E::Auth => Some("AUTH"),
                    E::Quota => Some("QUOTA"),
                    E::NoMsg => Some("NO_MSG"),
                    E::LargeMsg => Some("LARGE_MSG"),
                    E::Internal => Some("INTERNAL"),
                    _ => None,
                };
                match t {
                    Some(t) => AgentErrorType::Smp {
                        server_address: server.clone(),
                        smp_err: tag(t),
                    },
                    None => AgentErrorType::Internal {
                        internal_err: e.to_string(),
                    },
                }
            }
            AgentError::NoConnection | AgentError::NoConfirmation => AgentErrorType::Conn {
                conn_err: tag("NOT_FOUND"),
                err_context: e.to_string(),
            },
            AgentError::Prohibited(_) => AgentErrorType::Cmd {
                cmd_err: tag("PROHIBITED"),
                err_context: e.to_string(),
            },
            AgentError::Large => AgentErrorType::Cmd {
                cmd_err: tag("LARGE"),
                err_context: e.to_string(),
            },
            AgentError::Version => AgentErrorType::Agent {
                agent_err: tag("A_VERSION"),
            },
            AgentError::Stopped => AgentErrorType::Inactive,
            _ => AgentErrorType::Internal {
                internal_err: e.to_string(),
            },
        }
    }
}
