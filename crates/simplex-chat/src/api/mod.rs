//! The bot API: `simplex-chat -p PORT` serves the reference's WebSocket JSON API
//! (`bots/api/COMMANDS.md`, `EVENTS.md`, `TYPES.md` of simplex-chat), so that bots written
//! for the reference run on this client unchanged.
//!
//! - [`types`], [`items`], [`errors`]: the records, declared once with the reference's
//!   JSON names; [`response`]: the responses and events, and the frame envelope.
//! - [`command`]: the commands bots send, in their `/_` API form and the console aliases.
//! - [`server`]: the WebSocket server; commands run through the same
//!   [`crate::chat::Chat`] as the terminal's (`Chat::api_command`), and what agent events
//!   cause reaches clients as events (`Output::record`).

pub mod command;
pub mod errors;
pub mod files;
pub mod groups;
pub mod items;
pub mod plan;
pub mod response;
pub mod server;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_groups;
#[cfg(test)]
mod tests_plan;
pub mod types;
