//! SimpleX Chat, the terminal client: profiles, contacts, direct messages and groups over
//! `simplex-agent`, speaking the reference's chat protocol (JSON events in agent messages)
//! and printing what the reference's terminal client prints.
//!
//! Owns: the chat protocol subset for direct chats and groups ([`protocol`]), the chat
//! database ([`store`]: profile, contacts, requests, address, groups, chat items; SQLCipher
//! with a passphrase), the command parser ([`command`]), the printed lines ([`view`]) and the controller that
//! joins them to the agent ([`chat`]) and the line editor of a terminal ([`term`]). The
//! `simplex-chat` binary adds the command line.
//!
//! Files go through XFTP relays (`chat::files`, direct chats only so far).
//!
//! The bot API ([`api`]): `simplex-chat -p PORT` serves the reference's WebSocket JSON API.
//!
//! Leaves out: files in groups, calls, message editing and deletion, reactions, incognito profiles,
//! several users, sending compressed messages; in groups:
//! member approval, direct contacts between members.
//!
//! Sits at the top of the stack, above `simplex-agent`. Reference: `simplex-chat`'s
//! `Library/Commands.hs` (commands), `View.hs` (output), `Protocol.hs` and
//! `docs/protocol/simplex-chat.md` (messages).

pub mod api;
pub mod chat;
pub mod command;
pub mod privacy;
pub mod protocol;
pub mod store;
pub mod term;
pub mod view;
