//! Files in groups, as the reference sends them (`xftpSndFileTransfer` for a group): `/f
//! #team PATH` sends the invitation (`x.msg.new` with `file`) to the group like any group
//! message, uploads once for every connected member — with the description count rounded
//! up (`roundedFDCount`: at least 4, then powers of two) so that the relays do not learn
//! the group's size — and when the upload ends each member gets its own description on its
//! member connection (`x.msg.file.descr`), then `completed uploading file N (x) for #team`.
//! A member receives it as from a contact (`#team alice> sends file …`, `/fr N`), the
//! description and a cancel accepted only from the member who sent the file. Descriptions
//! go on member connections only (as the reference's `memberFTs`): a host does not pass one
//! on, and a forwarded one is ignored, since each is one member's own.

use super::files::offer_lines;
use super::group::group_chat;
use super::{Chat, ChatError, Output};
use crate::protocol::group::MemberRole;
use crate::protocol::{FileEvent, MsgNewFile};
use crate::store::files::{FileChat, FileStatus, FileTransfer};
use crate::store::groups::{Group, Member, Status};
use crate::view;
use crate::view::group as gv;

/// The number of descriptions an upload makes for `n` recipients (the reference's
/// `roundedFDCount`): 4 at least, else the next power of two.
pub fn rounded_fd_count(n: i64) -> usize {
    let n = usize::try_from(n).unwrap_or(0);
    n.max(4).next_power_of_two()
}

impl<O: Output> Chat<O> {
    /// `/f #team PATH`.
    pub(super) async fn send_group_file(
        &mut self,
        group: &str,
        path: &str,
        caption: &str,
    ) -> Result<Option<FileTransfer>, ChatError> {
        let Some(g) = self.group(group)? else {
            return Ok(None);
        };
        let me = self.store.membership(g.id)?;
        if !me.status.is_current() || me.status == Status::Accepted {
            self.say(gv::says(&g, "you are not connected to the group yet"));
            return Ok(None);
        }
        if me.role < MemberRole::Author {
            self.say(gv::says(&g, "you don't have permission to send messages"));
            return Ok(None);
        }
        let Some(offer) = self.file_offer(path, caption) else {
            return Ok(None);
        };
        let recipients: Vec<_> = self
            .recipients(g.id)?
            .iter()
            .map(|m| (None, Some(m.id)))
            .collect();
        self.broadcast(g.id, &offer.0.to_bytes()).await?;
        self.last_chat = Some(group_chat(&g.name));
        let to = gv::group_ref(&g.name);
        self.sent_file(FileChat::Group(g.id), offer, path, &to, &recipients)
            .map(Some)
    }

    /// After a group file's upload: each member's description on its connection.
    pub(super) async fn send_member_descrs(
        &mut self,
        file_id: i64,
        msg_id: &str,
    ) -> Result<(), ChatError> {
        for (_, member, descr, sent) in self.store.file_recipients(file_id)? {
            let (Some(mid), Some(descr), false) = (member, descr, sent) else {
                continue;
            };
            let Some(m) = self.store.member_by_id(mid)? else {
                continue;
            };
            // A member who left meanwhile gets nothing; one not connected yet neither (as
            // the reference: descriptions go on member connections only).
            if let (Some(conn), true) = (&m.conn_id, m.status.is_current()) {
                self.send_descr(conn, msg_id, &descr).await?;
            }
            self.store.set_recipient_sent(file_id, None, Some(mid))?;
        }
        Ok(())
    }

    /// `x.msg.new` with a file from a member.
    pub(super) fn group_file_invitation(
        &mut self,
        g: &Group,
        author: &Member,
        msg_id: Option<&str>,
        m: &MsgNewFile,
        forwarded: bool,
    ) -> Result<(), ChatError> {
        let Some(msg_id) = msg_id else { return Ok(()) };
        if author.role < MemberRole::Author {
            return Ok(());
        }
        let inv = &m.file;
        let f = self.store.add_file(
            false,
            FileChat::Group(g.id),
            msg_id,
            &inv.file_name,
            inv.file_size,
            None,
        )?;
        self.store.set_file_member(f.id, author.id)?;
        if let Some(part) = &inv.file_descr {
            self.store.add_descr_part(f.id, part)?;
        }
        if !m.content.text().is_empty() {
            self.store.set_file_caption(f.id, m.content.text())?;
        }
        self.last_chat = Some(group_chat(&g.name));
        let who = format!(
            "{} {}>",
            gv::group_ref(&g.name),
            view::view_name(&author.name)
        );
        let fwd = if forwarded { " [>>]" } else { "" };
        self.print(offer_lines(&who, m, f.id, fwd));
        self.emit_file_offer(f.id);
        Ok(())
    }

    /// `x.msg.file.descr` or `x.file.cancel` from a member: only the member who sent the
    /// file may describe or cancel it, and a description counts only when it came on the
    /// member's own connection (a forwarded one was another member's).
    pub(super) fn group_file_event(
        &mut self,
        g: &Group,
        author: &Member,
        ev: FileEvent,
        forwarded: bool,
    ) -> Result<(), ChatError> {
        if forwarded && matches!(ev, FileEvent::Descr { .. }) {
            return Ok(());
        }
        let msg_id = match &ev {
            FileEvent::Descr { msg_id, .. } | FileEvent::Cancel { msg_id } => msg_id.clone(),
        };
        let Some(f) = self
            .store
            .received_file(FileChat::Group(g.id), &msg_id)?
            .filter(|f| f.member == Some(author.id))
        else {
            return Ok(());
        };
        match ev {
            FileEvent::Descr { file_descr, .. } => self.descr_part(&f, &file_descr)?,
            FileEvent::Cancel { .. } => {
                if matches!(f.status, FileStatus::Cancelled | FileStatus::Complete) {
                    return Ok(());
                }
                self.stop_file(f.id);
                self.store.set_file_status(f.id, FileStatus::Cancelled)?;
                self.say(format!(
                    "{} cancelled sending file {} ({})",
                    view::view_name(&author.name),
                    f.id,
                    f.file_name
                ));
                self.emit_snd_cancelled(f.id);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::rounded_fd_count;

    #[test]
    fn description_counts_as_the_reference_rounds_them() {
        // The reference's own cases (`testXFTPRoundFDCount`).
        for (n, want) in [
            (-100, 4),
            (-1, 4),
            (0, 4),
            (1, 4),
            (2, 4),
            (4, 4),
            (5, 8),
            (20, 32),
            (128, 128),
            (500, 512),
        ] {
            assert_eq!(rounded_fd_count(n), want, "{n}");
        }
    }
}
