//! The SMP relay (`smp-server`): queues, messages, subscriptions, the store log, and the
//! operator's command line, as a drop-in for the reference's `smp-server`.
//!
//! Layers, bottom to top: [`store`] (queues), [`msg_store`] (messages and kept notifications),
//! [`store_log`] (the reference's persistence formats). It sits on `smp-proto` (wire
//! formats), `simplex-crypto` and `simplex-transport` (TLS); it leaves out proxying (`PRXY`,
//! `PFWD`, `RFWD`), short links, services, the control port, and statistics.

pub mod cli;
pub mod core;
pub mod msg_journal;
pub mod msg_store;
pub mod server;
pub mod store;
pub mod store_log;
pub mod wire;
