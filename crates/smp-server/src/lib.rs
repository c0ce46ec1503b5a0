//! The SMP relay (`smp-server`): queues, messages, subscriptions, the store log, and the
//! operator's command line, as a drop-in for the reference's `smp-server`.
//!
//! Layers, bottom to top: [`store`] (queues), [`msg_store`] (messages and kept notifications),
//! [`store_log`] (the reference's persistence formats). It sits on `smp-proto` (wire
//! formats), `simplex-crypto` and `simplex-transport` (TLS), and on `smp-client` for its
//! connections to destination relays as a proxy ([`proxy`]; the destination's side is
//! [`forward`]); it leaves out short links and services; [`control`] is the operator's control port; [`stats`] keeps the operators' statistics. With the
//! cargo feature `testing`, the `testing` module runs a relay in process for tests.

pub mod cli;
pub mod control;
pub mod core;
pub mod forward;
pub mod listeners;
pub mod msg_journal;
pub mod msg_store;
pub mod proxy;
pub mod server;
pub mod stats;
pub mod store;
pub mod store_log;
#[cfg(feature = "testing")]
pub mod testing;
pub mod wire;
