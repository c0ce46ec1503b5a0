//! `/privacy`: the privacy level and what it and the options set (module
//! [`crate::privacy`]); `/privacy LEVEL` saves a new level, which takes effect at the next
//! start (the network settings are the agent's, fixed while it runs).

use super::{Chat, ChatError, Output};
use crate::privacy::{apply, lines, Level, NetFlags, Privacy};

/// What the chat was started with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The options of the command line.
    pub flags: NetFlags,
    /// What they and the level set.
    pub current: Privacy,
}

impl<O: Output> Chat<O> {
    /// Tells `/privacy` what the chat was started with.
    pub fn set_privacy(&mut self, flags: NetFlags, current: Privacy) {
        self.privacy = Some(Settings { flags, current });
    }

    pub(super) fn privacy(&mut self, level: Option<Level>) -> Result<(), ChatError> {
        let Some(s) = &self.privacy else {
            self.say("privacy: not known in this run");
            return Ok(());
        };
        let Some(level) = level else {
            let out = lines(&s.current);
            self.print(out);
            return Ok(());
        };
        // What the level would set with this run's options.
        let mut config = simplex_agent::AgentConfig::new(Vec::new());
        let next = apply(level, &s.flags, &mut config);
        self.store.set_setting("privacy", level.as_str())?;
        let mut out = lines(&next);
        if level == s.current.level {
            out.push("(as now)".to_string());
        } else {
            out.push("(from the next start: restart the chat to apply)".to_string());
        }
        self.print(out);
        Ok(())
    }
}
