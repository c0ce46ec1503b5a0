//! The benchmarks' shared parts: the relay under test as a child process, what
//! `/proc` says about a process, and a bare client's secured queue. Used by `smp-bench` (the relay's benchmark) and
//! `agent-bench` (the agent's, through a relay).

pub mod queue;
pub mod server;
