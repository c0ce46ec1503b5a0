//! The narrow YAML of file descriptions: an exact printer of what the reference's `Data.Yaml`
//! (libyaml) emits for them, and a small parser for block-style YAML.
//!
//! Printing rules reproduced: mapping keys sorted, two-space indentation, a block sequence
//! under a mapping key at the key's own indentation (`replicas:` then `- chunks:`), empty
//! sequences as `[]`, and strings that would read as another type (numbers, `true`, `null`,
//! ...) or that are empty in single quotes. Description values never contain spaces or
//! newlines, so no other quoting or folding arises.
//!
//! The parser reads block mappings and sequences (sequences may sit at their key's
//! indentation or deeper, and `- key: value` starts a mapping item), plain, single- and
//! double-quoted scalars, `[]` and `{}`, comment lines and a leading `---`. Flow collections
//! with content, anchors, tags and multi-line scalars are refused. The no-YAML-crate choice:
//! none reproduces libyaml's exact output (key order, sequence indentation and its
//! quoting rules), and this subset is small.

use crate::error::XftpError;

/// A parsed YAML node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A scalar (`null` and `~` read as the text they are).
    Scalar(String),
    /// A mapping, in document order.
    Map(Vec<(String, Node)>),
    /// A sequence.
    Seq(Vec<Node>),
}

impl Node {
    /// The value under `key`, if this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text of a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Scalar(s) => Some(s),
            _ => None,
        }
    }
}

const BAD: XftpError = XftpError::Description("YAML");

// ------------------------------------------------------------------------------------------
// Printing

/// True when libyaml (through `Data.Yaml`) would print `s` in single quotes.
fn needs_quotes(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~", "*",
    ];
    let plain_char = |c: char| c.is_ascii_alphanumeric() || "-_=.:/@,+".contains(c);
    s.is_empty()
        || SPECIAL.contains(&s)
        || is_numeric(s)
        || !s.chars().all(plain_char)
        || s.starts_with([':', '-', '?']) && s.len() == 1
}

/// `Data.Scientific`'s reading: optional sign, digits, optional fraction, optional exponent.
fn is_numeric(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    if !digits(&mut i) {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len()
}

/// A string scalar as printed.
pub fn scalar(s: &str) -> String {
    if needs_quotes(s) {
        format!("'{}'", s.replace('\'', "''"))
    } else {
        s.to_owned()
    }
}

// ------------------------------------------------------------------------------------------
// Parsing

struct Line<'a> {
    indent: usize,
    text: &'a str,
}

/// Parses a YAML document of the supported subset.
pub fn parse(text: &str) -> Result<Node, XftpError> {
    let mut lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = raw.trim_start_matches(' ');
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if trimmed.starts_with('\t') {
            return Err(BAD);
        }
        if i == 0 && trimmed == "---" || trimmed == "..." {
            continue;
        }
        expand(raw.len() - trimmed.len(), trimmed, &mut lines);
    }
    let mut pos = 0;
    let node = match lines.first() {
        None => return Err(BAD),
        Some(l) => block(&lines, &mut pos, l.indent, 0)?,
    };
    if pos != lines.len() {
        return Err(BAD);
    }
    Ok(node)
}

/// Splits `- item` lines so that every sequence item with content starts its own line:
/// `- key: v` becomes `-` and `key: v` two columns in.
fn expand<'a>(mut indent: usize, mut text: &'a str, out: &mut Vec<Line<'a>>) {
    while let Some(rest) = text.strip_prefix("- ") {
        let rest_trim = rest.trim_start_matches(' ');
        out.push(Line { indent, text: "-" });
        if rest_trim.is_empty() {
            return;
        }
        indent += 2 + (rest.len() - rest_trim.len());
        text = rest_trim;
    }
    out.push(Line { indent, text });
}

/// How deeply blocks may nest (descriptions need 4); deeper input is refused rather than
/// recursed into.
const MAX_DEPTH: usize = 16;

/// Parses the block starting at `lines[*pos]`, whose indentation is `indent`, `depth` blocks
/// deep.
fn block(
    lines: &[Line<'_>],
    pos: &mut usize,
    indent: usize,
    depth: usize,
) -> Result<Node, XftpError> {
    if depth > MAX_DEPTH {
        return Err(BAD);
    }
    let first = lines.get(*pos).ok_or(BAD)?;
    if first.indent != indent {
        return Err(BAD);
    }
    if first.text == "-" {
        let mut items = Vec::new();
        while let Some(l) = lines.get(*pos) {
            if l.indent != indent || l.text != "-" {
                break;
            }
            *pos += 1;
            match lines.get(*pos) {
                Some(next) if next.indent > indent => {
                    items.push(block(lines, pos, next.indent, depth + 1)?)
                }
                _ => items.push(Node::Scalar(String::new())),
            }
        }
        return Ok(Node::Seq(items));
    }
    if split_key(first.text).is_some() {
        let mut entries: Vec<(String, Node)> = Vec::new();
        while let Some(l) = lines.get(*pos) {
            if l.indent != indent {
                break;
            }
            let Some((key, value)) = split_key(l.text) else {
                break;
            };
            *pos += 1;
            let node = if !value.is_empty() {
                inline_value(value)?
            } else {
                match lines.get(*pos) {
                    Some(next) if next.indent > indent => {
                        block(lines, pos, next.indent, depth + 1)?
                    }
                    Some(next) if next.indent == indent && next.text == "-" => {
                        block(lines, pos, indent, depth + 1)?
                    }
                    _ => Node::Scalar(String::new()),
                }
            };
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(BAD);
            }
            entries.push((key, node));
        }
        return Ok(Node::Map(entries));
    }
    *pos += 1;
    inline_value(first.text)
}

/// Splits `key: value` or `key:`; `None` for a line that is not a mapping entry.
fn split_key(text: &str) -> Option<(String, &str)> {
    if text.starts_with(['\'', '"']) {
        return None;
    }
    let (key, value) = match text.find(": ") {
        Some(i) => (&text[..i], text[i + 2..].trim_start_matches(' ')),
        None => (text.strip_suffix(':')?, ""),
    };
    if key.is_empty() || key.contains(' ') {
        return None;
    }
    Some((key.to_owned(), value))
}

/// A value on the same line as its key or dash.
fn inline_value(text: &str) -> Result<Node, XftpError> {
    match text.trim_end_matches(' ') {
        "[]" => Ok(Node::Seq(Vec::new())),
        "{}" => Ok(Node::Map(Vec::new())),
        t if t.starts_with('\'') => single_quoted(t).map(Node::Scalar),
        t if t.starts_with('"') => double_quoted(t).map(Node::Scalar),
        t if t.starts_with(['[', '{', '&', '*', '!', '|', '>', '%', '@', '`']) => Err(BAD),
        t => {
            let t = match t.find(" #") {
                Some(i) => t[..i].trim_end_matches(' '),
                None => t,
            };
            Ok(Node::Scalar(t.to_owned()))
        }
    }
}

fn single_quoted(t: &str) -> Result<String, XftpError> {
    let body = t.strip_prefix('\'').ok_or(BAD)?;
    let mut out = String::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            if chars.peek() == Some(&'\'') {
                chars.next();
                out.push('\'');
            } else {
                return trailing_comment(chars.collect::<String>().as_str()).map(|_| out);
            }
        } else {
            out.push(c);
        }
    }
    Err(BAD)
}

fn double_quoted(t: &str) -> Result<String, XftpError> {
    let body = t.strip_prefix('"').ok_or(BAD)?;
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return trailing_comment(chars.as_str()).map(|_| out),
            '\\' => out.push(match chars.next().ok_or(BAD)? {
                '\\' => '\\',
                '"' => '"',
                '/' => '/',
                'n' => '\n',
                't' => '\t',
                ' ' => ' ',
                _ => return Err(BAD),
            }),
            c => out.push(c),
        }
    }
    Err(BAD)
}

fn trailing_comment(rest: &str) -> Result<(), XftpError> {
    let rest = rest.trim_start_matches(' ');
    if rest.is_empty() || rest.starts_with('#') {
        Ok(())
    } else {
        Err(BAD)
    }
}
