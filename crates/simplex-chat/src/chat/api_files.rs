//! The bot API's files: sending a file with a message, receiving and cancelling, the
//! `file` of chat items (`CIFile`) and the file events; the transfers are module `files`'s.

use super::api::ApiResult;
use super::{Chat, Output};
use crate::api::errors::ChatError;
use crate::api::items::AChatItem;
use crate::api::types::ComposedMessage;
use crate::store::groups::Group;

impl<O: Output> Chat<O> {
    /// Sends a file to a group.
    pub(super) async fn api_send_file_group(
        &mut self,
        _g: &Group,
        _m: ComposedMessage,
    ) -> Result<AChatItem, ChatError> {
        Err(ChatError::command("files are not supported yet"))
    }

    /// `/freceive`, `/fcancel`.
    pub(super) async fn api_file_command(
        &mut self,
        _cmd: crate::api::command::ApiCommand,
    ) -> ApiResult {
        Err(ChatError::command("files are not supported yet"))
    }
}
