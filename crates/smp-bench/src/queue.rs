//! A queue made the way an agent makes its receive queue, for the benchmarks' bare clients.

use rand::rngs::OsRng;
use simplex_crypto::{PrivateAuthKey, PrivateKeyX25519};
use smp_client::{ClientError, SmpClient};
use smp_proto::{QueueIdsKeys, SubscriptionMode};

/// Creates a queue on `rcv`'s relay (`NEW`, subscribed) with `rcv_key` and secures it with
/// `snd_key`'s public key (`KEY`). Returns the relay's IDs and keys and the recipient's DH
/// key for the relay's layer.
pub async fn secured_queue(
    rcv: &SmpClient,
    rcv_key: &PrivateAuthKey,
    snd_key: &PrivateAuthKey,
) -> Result<(QueueIdsKeys, PrivateKeyX25519), ClientError> {
    let dh = PrivateKeyX25519::generate(&mut OsRng);
    let ids = rcv
        .create_queue(
            rcv_key,
            &dh.public_key(),
            None,
            SubscriptionMode::Subscribe,
            false,
        )
        .await?;
    rcv.secure_queue(rcv_key, ids.rcv_id.as_slice(), &snd_key.public_key())
        .await?;
    Ok((ids, dh))
}
