// Shared by the targets: the first input byte picks the protocol version (6..=18).
use smp_proto::Version;

pub fn split_version(data: &[u8]) -> Option<(Version, &[u8])> {
    let (&first, rest) = data.split_first()?;
    Some((Version(6 + u16::from(first % 13)), rest))
}
