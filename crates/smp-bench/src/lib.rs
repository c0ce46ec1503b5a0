//! The benchmarks' shared parts: the relay under test as a child process, and what
//! `/proc` says about a process. Used by `smp-bench` (the relay's benchmark) and
//! `agent-bench` (the agent's, through a relay).

pub mod server;
